"""Several processes, one Optuna study: training-free NAS on a shared SQLite storage.

Each worker process opens the same study and runs ``run_optuna_study`` (the
objective is the NAS-Bench-201 benchmark accuracy). The ``TrainingFreeSampler``
in every process rebuilds its population from the storage at each trial and
claims the architecture it proposes there, so the workers share what they
learn and do not evaluate the same architecture twice. Run it again with the
same ``--db`` and a larger ``--trials`` to resume. Each worker stops once the
study has ``--trials`` finished trials, but a trial another worker has
already started still finishes (Optuna's ``MaxTrialsCallback``), so a study
can end with up to ``workers - 1`` trials more than asked.

    python examples/optuna_shared_storage.py --workers 2 --trials 30
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import tempfile
import time
from collections import Counter

import optuna
import torch

from tenas_automl import get_space
from tenas_automl.integrations.optuna import architecture_from_params, run_optuna_study

STUDY = "nb201-shared"


def worker(storage: str, trials: int, indicators: tuple[str, ...], seed: int) -> None:
    torch.set_num_threads(1)
    logging.getLogger("tenas_automl.indicators").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Same command in every worker: each stops once the study has `trials` finished trials.
    run_optuna_study(
        "nb201", storage=storage, study_name=STUDY, trials=trials, sampler_strategy="evolution",
        indicators=indicators, seed=seed, device="cpu", candidates=4,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=30, help="total trials of the study (up to workers - 1 more may finish)")
    parser.add_argument("--indicators", default="naswot,lr", help="comma-separated; the paper's TE-NAS: ntk,lr")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=None, help="SQLite file (default: a new temporary one)")
    args = parser.parse_args()

    db = args.db or os.path.join(tempfile.mkdtemp(prefix="tenas-optuna-"), "study.db")
    storage = f"sqlite:///{db}"
    indicators = tuple(n.strip() for n in args.indicators.split(",") if n.strip())
    # Create the study once up front, so the workers only load it.
    optuna.create_study(study_name=STUDY, storage=storage, direction="maximize", load_if_exists=True)

    start = time.perf_counter()
    ctx = mp.get_context("spawn")  # fresh interpreters: no torch or sqlite state shared by fork
    job = (storage, args.trials, indicators, args.seed)
    procs = [ctx.Process(target=worker, args=job) for _ in range(args.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - start
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit(f"a worker failed: exit codes {[p.exitcode for p in procs]}")

    space = get_space("nb201")
    study = optuna.load_study(study_name=STUDY, storage=storage)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    archs = [space.format(architecture_from_params(t.params, space)) for t in trials]
    repeats = sum(c - 1 for c in Counter(archs).values())
    best = study.best_trial
    print(f"storage {storage}")
    print(f"{len(trials)} trials by {args.workers} workers in {seconds:.0f} s; repeated architectures: {repeats}")
    print(f"best trial {best.number}: CIFAR-10 {best.value:.2f}% (space best {space.best_accuracy('cifar10'):.2f}%)")
    print(f"  {space.format(architecture_from_params(best.params, space))}")
    for n in indicators:
        print(f"  {n} = {best.user_attrs.get(f'tenas:{n}')}")


if __name__ == "__main__":
    main()
