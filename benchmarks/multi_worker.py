"""Workers on one PostgreSQL-backed Optuna study: trials per minute, duplicates, and what the heartbeat costs.

Each configuration gets a new database on a private PostgreSQL server
(``tests/_postgres.py`` starts it; ``--url`` uses yours) and ``N`` processes of

    tenas-automl run --engine optuna --strategy evolution --indicators naswot \
        --storage URL --study-name s --trials TRIALS --seed K

started together (and, first, the storage's own cost per trial with the
heartbeat on and off: Optuna's RandomSampler and an objective that returns at
once). Throughput counts completed trials between the first
trial's start and the last one's end (the storage's timestamps, so the
seconds each process spends importing torch are left out); duplicates are
architectures completed more than once. Run alone on the machine:

    python benchmarks/multi_worker.py --trials 24 --out benchmarks/results/multi_worker.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tenas_automl._io import atomic_write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _postgres  # noqa: E402


def run_config(base: str, workers: int, trials: int, heartbeat: int) -> dict:
    url = f"{base}/b{uuid.uuid4().hex[:10]}"
    _postgres.create_database(url)
    cache = tempfile.mkdtemp(prefix="tenas-bench-cache-")
    env = {**os.environ, "TENAS_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "tenas_automl.cli", "run", "--engine", "optuna", "--strategy", "evolution",
        "--indicators", "naswot", "--storage", url, "--study-name", "s", "--trials", str(trials),
        "--device", "cpu", "--quiet", "--heartbeat", str(heartbeat),
    ]  # fmt: skip
    start = time.perf_counter()
    procs = [
        subprocess.Popen([*cmd, "--seed", str(k)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        for k in range(workers)
    ]
    codes = [(p.wait(), p.stderr.read() if p.stderr else "") for p in procs]
    wall = time.perf_counter() - start
    failed = [err.strip()[-300:] for code, err in codes if code != 0]
    done = optuna.load_study(study_name="s", storage=url).get_trials(states=(TrialState.COMPLETE,))
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    archs = Counter(t.user_attrs.get("tenas:arch") for t in done)
    return {
        "workers": workers,
        "heartbeat_s": heartbeat or None,
        "trials_completed": len(done),
        "duplicates": sum(n - 1 for n in archs.values()),
        "trial_seconds_span": round(span, 2),
        "trials_per_minute": round(60 * len(done) / span, 1),
        "wall_seconds": round(wall, 1),
        "failed_workers": failed,
    }


def storage_overhead(base: str, trials: int, heartbeat: int) -> dict:
    """Milliseconds per trial of the storage alone: Optuna's RandomSampler, an objective that returns at once."""
    from tenas_automl.integrations.optuna import default_grace_period, open_storage

    url = f"{base}/o{uuid.uuid4().hex[:10]}"
    _postgres.create_database(url)
    grace = default_grace_period(heartbeat) if heartbeat else None
    storage = open_storage(url, heartbeat_interval=heartbeat or None, grace_period=grace)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
    ms = 1000 * (time.perf_counter() - start) / trials
    return {"heartbeat_s": heartbeat or None, "trials": trials, "ms_per_trial": round(ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="postgresql+psycopg://user@host:port (no database: one is created per run)")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--configs", default="1:10,2:10,4:10,1:0,1:1", help="workers:heartbeat seconds (0: off), comma-separated")
    parser.add_argument("--update", action="store_true", help="replace these configurations' rows in --out, keep the others")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = None
    base = args.url
    if base is None:
        url, folder = _postgres.start()
        base = url.rsplit("/", 1)[0]
    rows: list[dict] = []
    configs = [(int(w), int(b)) for w, b in (c.split(":") for c in args.configs.split(",") if c)]
    if args.update and args.out and args.out.exists():
        old = json.loads(args.out.read_text())["runs"]
        rows = [r for r in old if (r["workers"], r["heartbeat_s"] or 0) not in configs]
    overhead: list[dict] = []
    try:
        for beat in (0, 10, 0, 10):  # twice each, interleaved: the second pair is the figure
            overhead.append(storage_overhead(base, 300, beat))
            print(f"storage alone, heartbeat {beat or 'off':>3}: {overhead[-1]['ms_per_trial']} ms per trial", flush=True)
        if not configs and args.out:
            doc = {"trials": args.trials, "cores": os.cpu_count(), "runs": rows, "storage_overhead": overhead[2:]}
            atomic_write_json(args.out, doc)
        for workers, beat in configs:
            row = run_config(base, workers, args.trials, beat)
            rows.append(row)
            print(
                f"workers {workers}  heartbeat {beat or 'off':>3}  {row['trials_completed']} trials  "
                f"{row['trials_per_minute']:6.1f}/min  duplicates {row['duplicates']}  wall {row['wall_seconds']} s",
                flush=True,
            )
            if args.out:
                rows.sort(key=lambda r: (r["heartbeat_s"] != 10, r["workers"], r["heartbeat_s"] or 0))
                doc = {"trials": args.trials, "cores": os.cpu_count(), "runs": rows, "storage_overhead": overhead[2:]}
                atomic_write_json(args.out, doc)
    finally:
        if folder is not None:
            _postgres.stop(folder)


if __name__ == "__main__":
    main()
