"""Benchmark the Optuna integration on NAS-Bench-201: samplers and the pre-training pruner.

The objective of every study is the NB201 benchmark test accuracy (200 epochs)
of the suggested cell, so a "trial" costs nothing here; what matters is how
quickly each sampler finds good cells. For each seed:

* ``training-free``: :class:`TrainingFreeSampler` (evolution);
* ``training-free-prune``: :class:`TrainingFreeSampler` with
  ``strategy="prune"`` (TE-NAS pruning with the same indicators, then the
  indicator-best untried neighbour of the best trial);
* ``tpe`` and ``random``: Optuna's ``TPESampler`` and ``RandomSampler`` on
  the same categorical parameters (:func:`suggest_architecture`);
* ``random+pruner``: ``RandomSampler`` with :class:`TrainingFreePruner`,
  called before "training"; reports the fraction of trials pruned, the best
  accuracy among the trials it kept, and the best among all proposed (what
  random search alone would have found with the same trials).

Reported: mean +- std (ddof=1) over seeds of the best accuracy after each
checkpoint (default 10, 20, 50, 100 trials), and timings. The JSON file is
rewritten atomically after every study and finished studies are skipped on a
rerun, so an interrupted benchmark resumes. Smoke run::

    python benchmarks/optuna_nb201.py --seeds 1 --checkpoints 10,20 --output /tmp/optuna.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
from pathlib import Path
from typing import Any

import optuna
import torch
from _common import (  # benchmarks/_common.py
    best_after,
    load_runs,
    mean_std,
    parse_checkpoints,
    parse_methods,
    print_best_table,
    run_pending,
    write_results,
)

from tenas_automl import get_space
from tenas_automl.integrations.optuna import (
    PRUNED_ATTR,
    TrainingFreePruner,
    TrainingFreeSampler,
    suggest_architecture,
)
from tenas_automl.spaces.base import Space

log = logging.getLogger("benchmarks.optuna_nb201")
METHODS = ("training-free", "training-free-prune", "tpe", "random", "random+pruner")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..K-1 (default 10)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--checkpoints", default="10,20,50,100", help="trial counts to report; the last is the budget")
    p.add_argument("--indicators", default="naswot,lr", help="comma-separated (TE-NAS paper: ntk,lr)")
    p.add_argument("--overrides", default=None, type=json.loads, help="indicator settings as JSON")
    p.add_argument("--candidates", type=int, default=12, help="TrainingFreeSampler candidates per trial")
    p.add_argument("--startup", type=int, default=5, help="TrainingFreeSampler startup trials")
    p.add_argument("--tournament", type=int, default=5, help="TrainingFreeSampler tournament size (of 20)")
    p.add_argument(
        "--surrogate-weight", type=float, default=0.5,
        help="TrainingFreeSampler weight of the additive model of the measured accuracies (0: indicators only)",
    )  # fmt: skip
    p.add_argument("--percentile", type=float, default=50.0, help="TrainingFreePruner percentile")
    p.add_argument("--warmup", type=int, default=5, help="TrainingFreePruner warm-up trials")
    p.add_argument("--dataset", default="cifar10", help="benchmark column (and the indicators' images)")
    p.add_argument("--device", default="auto")
    p.add_argument("--output", default="benchmarks/results/optuna_nb201.json")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--prune-results", default=None, type=Path, nargs="+", metavar="FILE",
        help="training-free-prune: start each seed from the arch that search.py JSON files found for it (run "
        "with the same indicators and settings, e.g. --prune-preset fast for ntk,lr with the NTK on 32 images) "
        "instead of pruning again; seeds they lack prune as usual",
    )  # fmt: skip
    return p.parse_args(argv)


def pruned_archs(paths: list[Path] | None) -> dict[int, str]:
    """seed -> arch of the prune runs in ``search.py`` result files (a later file wins)."""
    out: dict[int, str] = {}
    for path in paths or []:
        runs = json.loads(path.read_text())["runs"]
        done = [r for r in runs if r.get("strategy") == "prune" and not r.get("interrupted")]
        out.update({int(r["seed"]): r["arch"] for r in done})
    return out


def run_study(space: Space, method: str, seed: int, trials: int, args: argparse.Namespace) -> dict[str, Any]:
    """One study; returns the accuracy of every trial (None where pruned) and costs."""
    indicators = tuple(n.strip() for n in args.indicators.split(",") if n.strip())
    common = dict(seed=seed, dataset=args.dataset, device=args.device, overrides=args.overrides)
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if method.startswith("training-free"):
        strategy = "prune" if method == "training-free-prune" else "evolution"
        start = pruned_archs(args.prune_results).get(seed) if strategy == "prune" else None
        sampler: optuna.samplers.BaseSampler = TrainingFreeSampler(
            space,
            strategy,
            indicators,
            candidates=args.candidates,
            n_startup_trials=args.startup,
            tournament_size=args.tournament,
            pruned=start,
            surrogate_weight=args.surrogate_weight,
            **common,
        )
    elif method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    if method == "random+pruner":
        pruner = TrainingFreePruner(space, indicators, percentile=args.percentile, warmup=args.warmup, **common)
    proposed: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        arch = suggest_architecture(trial, space)
        accuracy = float(space.benchmark_accuracy(arch, args.dataset))
        proposed.append(accuracy)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    seconds = time.perf_counter() - start
    values = [t.value if t.state == optuna.trial.TrialState.COMPLETE else None for t in study.trials]
    record: dict[str, Any] = {
        "method": method,
        "seed": seed,
        "trials": trials,
        "values": values,
        "proposed": proposed,
        "seconds": seconds,
    }
    scorer = getattr(sampler, "scorer", None) or getattr(pruner, "scorer", None)
    if scorer is not None:
        record["indicator_evaluations"] = scorer.evaluations
    if method == "random+pruner":
        record["pruned"] = [bool(t.user_attrs.get(PRUNED_ATTR)) for t in study.trials]
    return record


def summarize(runs: list[dict[str, Any]], checkpoints: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method in METHODS:
        rs = [r for r in runs if r["method"] == method]
        if not rs:
            continue
        row: dict[str, Any] = {"seeds": len(rs), "median_seconds": statistics.median(r["seconds"] for r in rs)}
        for k in checkpoints:
            row[f"best@{k}"] = [best_after(r["values"], k) for r in rs]
        if method == "random+pruner":
            for k in checkpoints:
                row[f"pruned@{k}"] = [sum(r["pruned"][:k]) / min(k, len(r["pruned"])) for r in rs]
                row[f"all@{k}"] = [max(r["proposed"][:k]) for r in rs]
        out[method] = row
    return out


def print_table(summary: dict[str, Any], checkpoints: list[int]) -> None:
    print_best_table(summary, checkpoints, method_width=20, time_width=9)
    row = summary.get("random+pruner")
    if row:
        print("\nrandom+pruner: fraction pruned before training / best kept / best of all proposed")
        for k in checkpoints:
            frac = statistics.fmean(row[f"pruned@{k}"])
            kept, every = mean_std(row[f"best@{k}"]), mean_std(row[f"all@{k}"])
            print(f"  after {k:>4} trials: pruned {frac:5.1%}   kept {kept}   all {every}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tenas_automl").setLevel(logging.WARNING)
    logging.getLogger("tenas_automl.indicators").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = parse_methods(args.methods, METHODS)
    checkpoints = parse_checkpoints(args.checkpoints)
    trials = checkpoints[-1]
    space = get_space("nb201")
    out = Path(args.output)
    names = (
        "indicators", "overrides", "candidates", "startup", "tournament", "surrogate_weight", "percentile", "warmup",
        "dataset",
    )  # fmt: skip
    config = {k: getattr(args, k) for k in names}
    if args.prune_results is not None:
        files = [str(p) for p in args.prune_results]
        config["prune_results"] = files[0] if len(files) == 1 else files  # one file: as in earlier results
    runs = load_runs(out, config, "studies", log, keep=lambda r: r["trials"] >= trials)

    def after(record: dict[str, Any]) -> None:
        log.info("%s seed %d: best %.2f in %.1f s", record["method"], record["seed"],
                 best_after(record["values"], trials) or math.nan, record["seconds"])  # fmt: skip
        write_results(
            out, "optuna_nb201", {"optuna": optuna.__version__}, config=config, checkpoints=checkpoints,
            space_best=space.best_accuracy(args.dataset), runs=runs, summary=summarize(runs, checkpoints),
        )  # fmt: skip

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    run_pending(runs, seeds, methods, lambda method, seed: run_study(space, method, seed, trials, args), after)
    print(
        f"NB201 {args.dataset}: best benchmark accuracy (%) found, mean ± std over seeds "
        f"(space best {space.best_accuracy(args.dataset):.2f}); indicators {args.indicators}"
    )
    print_table(summarize([r for r in runs if r["method"] in methods], checkpoints), checkpoints)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
