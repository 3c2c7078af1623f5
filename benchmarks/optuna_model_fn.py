"""``TrainingFreeSampler(model_fn=...)`` on NB201 written as six plain categorical parameters.

The sampler does not know the space: ``search_space`` has one categorical per
edge, ``model_fn`` builds the NB201 network of those ops (16 channels, 5 cells
per stage) and ``score_model`` scores it with ``naswot``. The objective is the
cell's NB201 CIFAR-10 test accuracy, so a trial costs only its scoring. Best
accuracy after 20 trials, against RandomSampler and TPE after 20 and 100:

    python benchmarks/optuna_model_fn.py --seeds 5 --out benchmarks/results/optuna_model_fn_5seeds.json

``--pruner``: ``RandomSampler`` with ``TrainingFreePruner(model_fn=...)``
(``naswot``, 5 warm-up trials) over 100 trials: how many trainings it skips,
and what that costs, the best accuracy among the trials it let train against
the best of all 100 (the sampler proposes the same cells with or without it):

    python benchmarks/optuna_model_fn.py --pruner --seeds 5 --out benchmarks/results/optuna_model_fn_pruner_5seeds.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna
import torch
from optuna.distributions import CategoricalDistribution

from tenas_automl import get_space
from tenas_automl._io import atomic_write_json
from tenas_automl.integrations.optuna import TrainingFreePruner, TrainingFreeSampler

SPACE = get_space("nb201")
NAMES = [f"edge{i}" for i in range(len(SPACE.edges))]
SEARCH_SPACE = {n: CategoricalDistribution(SPACE.ops) for n in NAMES}


def arch_of(params: dict) -> object:
    return SPACE.mask_to_arch(tuple((params[n],) for n in NAMES))


def build(params: dict) -> torch.nn.Module:
    return SPACE.build(arch_of(params), channels=16, cells_per_stage=5, num_classes=10)


def objective(trial: optuna.Trial) -> float:
    params = {n: trial.suggest_categorical(n, SPACE.ops) for n in NAMES}
    return float(SPACE.benchmark_accuracy(arch_of(params), "cifar10"))


def best_after(sampler: optuna.samplers.BaseSampler, n: int, checkpoints: tuple[int, ...]) -> dict[int, float]:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=n)
    values = [t.value for t in study.trials]
    return {k: float(max(values[:k])) for k in checkpoints}


def pruned_objective(trial: optuna.Trial) -> float:
    params = {n: trial.suggest_categorical(n, SPACE.ops) for n in NAMES}
    trial.set_user_attr("accuracy", float(SPACE.benchmark_accuracy(arch_of(params), "cifar10")))
    if trial.should_prune():
        raise optuna.TrialPruned()
    return trial.user_attrs["accuracy"]


def pruner_rows(seeds: int, out: str | None) -> None:
    rows = []
    for seed in range(seeds):
        start = time.perf_counter()
        pruner = TrainingFreePruner(model_fn=build, indicators=("naswot",), warmup=5, seed=seed, device="cpu")
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)
        study.optimize(pruned_objective, n_trials=100)
        trained = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        every = [t.user_attrs["accuracy"] for t in study.trials]
        rows.append({
            "seed": seed, "trained": len(trained), "skipped": 100 - len(trained), "best_trained": max(trained),
            "best_of_all": max(every), "seconds": time.perf_counter() - start,
        })  # fmt: skip
        print(f"seed {seed}: {rows[-1]['skipped']} of 100 trainings skipped; best {max(trained):.2f} (of all {max(every):.2f})")
        if out:
            atomic_write_json(out, {"rows": rows})
    skipped = np.array([r["skipped"] for r in rows])
    loss = np.array([r["best_of_all"] - r["best_trained"] for r in rows])
    print(f"skipped {skipped.mean():.1f}% of trainings; best lost {loss.mean():.2f} points on average "
          f"(seeds losing anything: {int((loss > 0).sum())} of {len(rows)})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--pruner", action="store_true", help="measure TrainingFreePruner(model_fn=...) instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.pruner:
        pruner_rows(args.seeds, args.out)
        return
    rows = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        sampler = TrainingFreeSampler(model_fn=build, search_space=SEARCH_SPACE, indicators=("naswot",), seed=seed, device="cpu")
        ours = best_after(sampler, 20, (10, 20))
        seconds = time.perf_counter() - start
        rows.append({
            "seed": seed, "training_free": ours, "seconds": seconds,
            "random": best_after(optuna.samplers.RandomSampler(seed=seed), 100, (20, 100)),
            "tpe": best_after(optuna.samplers.TPESampler(seed=seed), 100, (20, 100)),
        })  # fmt: skip
        print(f"seed {seed}: training-free {ours[20]:.2f} in {seconds:.0f} s; random {rows[-1]['random']}; tpe {rows[-1]['tpe']}")
        if args.out:
            atomic_write_json(args.out, {"rows": rows})

    def stat(key: str, k: int) -> str:
        v = np.array([r[key][k] for r in rows])
        return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0:.2f}"

    print(f"training-free@20 {stat('training_free', 20)}; random@20 {stat('random', 20)}, @100 {stat('random', 100)}; "
          f"tpe@20 {stat('tpe', 20)}, @100 {stat('tpe', 100)}")  # fmt: skip


if __name__ == "__main__":
    main()
