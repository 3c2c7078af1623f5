"""A ``run_optuna_study`` worker whose trials take ``SLEEP`` seconds each, to be killed mid-trial by the tests.

usage: python tests/_slow_worker.py STORAGE STUDY SEED TRIALS SLEEP HEARTBEAT GRACE
"""

from __future__ import annotations

import sys
import time

import optuna

import tenas_automl.integrations.optuna._study as study_module


def main() -> None:
    storage, name, seed, trials, sleep, beat, grace = sys.argv[1:8]
    fast = study_module.benchmark_objective

    def slow_objective(space, dataset):  # type: ignore[no-untyped-def]
        objective = fast(space, dataset)

        def run(trial: optuna.Trial) -> float:
            value = objective(trial)
            time.sleep(float(sleep))
            return value

        return run

    study_module.benchmark_objective = slow_objective
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_module.run_optuna_study(
        "nb201", storage=storage, study_name=name, trials=int(trials), sampler_strategy="evolution",
        indicators=("params",), seed=int(seed), device="cpu", heartbeat_interval=int(beat), grace_period=int(grace),
    )  # fmt: skip


if __name__ == "__main__":
    main()
