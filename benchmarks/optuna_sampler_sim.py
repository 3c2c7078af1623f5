"""Tune TrainingFreeSampler's evolution settings on a simulated indicator, in seconds.

Scoring real indicators costs about a CPU-second per NB201 cell, so comparing
sampler settings over many seeds with ``optuna_nb201.py`` takes hours. Here
the sampler runs unchanged (real Optuna studies, the NB201 CIFAR-10 benchmark
accuracy as objective) but each indicator is replaced by a synthetic score:
the normal quantile of the cell's accuracy rank plus seeded Gaussian noise of
standard deviation ``--sigma``. ``--sigma 0.8`` gives each synthetic indicator
a Spearman rho of about 0.78 with accuracy, close to the measured 0.81 of
``naswot`` and 0.76 of ``lr`` (benchmarks/README.md); the two noises are
independent, so their rank sum is somewhat stronger than the real pair.

Reported per setting: mean best accuracy after 10 and 20 trials over
``--seeds`` seeds, the fraction of seeds that found the space's best cell,
and the cells scored per study. Example::

    python benchmarks/optuna_sampler_sim.py --seeds 50 --sigma 0.8 --output /tmp/sim.json
"""

from __future__ import annotations

import argparse
import logging
import statistics
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from _common import write_results  # benchmarks/_common.py
from scipy.stats import norm, spearmanr

from tenas_automl import get_space
from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture
from tenas_automl.integrations.optuna._scores import TrialScorer, Values

log = logging.getLogger("benchmarks.optuna_sampler_sim")

#: name -> (candidates, n_startup_trials, population_size, tournament_size)
SETTINGS: dict[str, tuple[int, int, int, int]] = {
    "previous defaults (8 cand, 10 startup)": (8, 10, 20, 5),
    "5 startup": (8, 5, 20, 5),
    "5 startup, greedy parent": (8, 5, 20, 20),
    "defaults (12 cand, 5 startup)": (12, 5, 20, 5),
    "24 cand, 5 startup": (24, 5, 20, 5),
    "16 cand, 3 startup, greedy parent": (16, 3, 20, 20),
}


class SyntheticScorer(TrialScorer):
    """Indicator values = accuracy-rank quantile + noise, seeded by (cell, indicator seed, name)."""

    quantile: dict[str, float] = {}
    sigma: float = 0.8

    def scores(self, archs: Sequence[Hashable]) -> list[Values]:
        out = []
        for arch in archs:
            text = self.space.format(arch)
            row = {}
            for k, name in enumerate(self.indicators):
                rng = np.random.default_rng([self.space.index_of(arch), self.seed, k])
                row[name] = self.quantile[text] + self.sigma * float(rng.standard_normal())
            out.append(row)
            self.evaluations += 1
        return out


def run(space: Any, seed: int, trials: int, setting: tuple[int, int, int, int]) -> dict[str, Any]:
    cand, startup, pop, tour = setting
    sampler = TrainingFreeSampler(
        space, "evolution", ("naswot", "lr"), seed=seed, candidates=cand,
        n_startup_trials=startup, population_size=pop, tournament_size=tour, use_cache=False,
    )  # fmt: skip
    sampler.scorer.__class__ = SyntheticScorer
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: float(space.benchmark_accuracy(suggest_architecture(t, space), "cifar10")), trials)
    values = [float(t.value) for t in study.trials]
    return {"values": values, "scored": sampler.scorer.evaluations}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--sigma", type=float, default=0.8, help="noise of each synthetic indicator")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--output", default="benchmarks/results/optuna_sampler_sim.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("tenas_automl").setLevel(logging.ERROR)

    space = get_space("nb201")
    archs = list(space.all_archs())
    acc = np.array([space.benchmark_accuracy(a, "cifar10") for a in archs])
    ranks = (np.argsort(np.argsort(acc, kind="stable"), kind="stable") + 0.5) / len(acc)
    SyntheticScorer.quantile = {space.format(a): float(q) for a, q in zip(archs, norm.ppf(ranks))}
    SyntheticScorer.sigma = args.sigma
    rng = np.random.default_rng(0)
    idx = rng.choice(len(acc), 1000, replace=False)
    rho = float(spearmanr(norm.ppf(ranks[idx]) + args.sigma * rng.standard_normal(1000), acc[idx])[0])
    best = float(acc.max())
    log.info("sigma %.2f: one synthetic indicator has Spearman rho %.3f with accuracy", args.sigma, rho)

    results: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        runs = [run(space, s, args.trials, setting) for s in range(args.seeds)]
        b10 = [max(r["values"][:10]) for r in runs]
        b20 = [max(r["values"][: args.trials]) for r in runs]
        results[name] = {
            "setting": dict(zip(("candidates", "n_startup_trials", "population_size", "tournament_size"), setting)),
            "best@10": statistics.fmean(b10),
            f"best@{args.trials}": statistics.fmean(b20),
            "std": statistics.stdev(b20),
            "found_best": float(np.mean([b >= best - 1e-9 for b in b20])),
            "scored_per_study": statistics.fmean(r["scored"] for r in runs),
        }
        r = results[name]
        log.info(
            "%-40s best@10 %.2f  best@%d %.3f ± %.2f  found best %.0f%%  scored %.0f",
            name,
            r["best@10"],
            args.trials,
            r[f"best@{args.trials}"],
            r["std"],
            100 * r["found_best"],
            r["scored_per_study"],
        )
        write_results(
            Path(args.output),
            "optuna_sampler_sim",
            {"optuna": optuna.__version__},
            config=vars(args),
            spearman_one_indicator=rho,
            space_best=best,
            results=results,
        )


if __name__ == "__main__":
    main()
