"""Helpers shared by the NB201 integration benchmarks (``nni_nb201.py``, ``optuna_nb201.py``).

Imported as ``_common``: the benchmarks run as scripts (``python benchmarks/X.py``),
which puts this folder first on ``sys.path``.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from tenas_automl import __version__
from tenas_automl._io import atomic_write_json


def best_after(values: list[float | None], k: int) -> float | None:
    """Best value among the first ``k`` (None entries, e.g. pruned trials, skipped)."""
    kept = [v for v in values[:k] if v is not None]
    return max(kept) if kept else None


def mean_std(xs: Sequence[float | None]) -> str:
    """``mean ± std`` (ddof=1) of the finite values, ``-`` when there are none."""
    ys = [x for x in xs if x is not None and math.isfinite(x)]
    if not ys:
        return "-"
    sd = statistics.stdev(ys) if len(ys) > 1 else 0.0
    return f"{statistics.fmean(ys):.2f} ± {sd:.2f}"


def parse_methods(text: str, allowed: Sequence[str]) -> list[str]:
    """The comma-separated ``--methods``; exits naming the allowed ones on an unknown one."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    for m in methods:
        if m not in allowed:
            raise SystemExit(f"unknown method {m!r}; allowed: {', '.join(allowed)}")
    return methods


def parse_checkpoints(text: str) -> list[int]:
    return sorted({int(k) for k in text.split(",")})


def load_runs(
    out: Path,
    config: dict[str, Any],
    what: str,
    log: logging.Logger,
    keep: Callable[[dict[str, Any]], bool] = lambda r: True,
) -> list[dict[str, Any]]:
    """The finished ``what`` (runs kept by ``keep``) of an earlier call with the same ``config``."""
    if not out.exists():
        return []
    old = json.loads(out.read_text())
    if old.get("config") != config:
        return []
    runs = [r for r in old.get("runs", []) if keep(r)]
    log.info("resuming: %d finished %s in %s", len(runs), what, out)
    return runs


def run_pending(
    runs: list[dict[str, Any]],
    seeds: Iterable[int],
    methods: Sequence[str],
    run: Callable[[str, int], dict[str, Any]],
    after: Callable[[dict[str, Any]], None],
) -> None:
    """Run every (method, seed) not yet in ``runs``, appending each record and calling ``after`` on it."""
    done = {(r["method"], r["seed"]) for r in runs}
    for seed in seeds:
        for method in methods:
            if (method, seed) in done:
                continue
            record = run(method, seed)
            runs.append(record)
            after(record)


def write_results(out: Path, benchmark: str, versions: dict[str, str], **fields: Any) -> None:
    """Rewrite the result file atomically: provenance first, then ``fields`` (config, runs, ...)."""
    atomic_write_json(out, {
        "benchmark": benchmark, "version": __version__, **versions,
        "torch": torch.__version__, "python": platform.python_version(), **fields,
    })  # fmt: skip


def print_best_table(summary: dict[str, Any], checkpoints: list[int], method_width: int, time_width: int) -> None:
    """One row per method: ``mean ± std`` of best@k for every checkpoint, then the median time."""
    print(f"{'method':<{method_width}}" + "".join(f"{'best@' + str(k):>17}" for k in checkpoints)
          + f"{'time/run':>{time_width + 1}}")  # fmt: skip
    for method, row in summary.items():
        cells = "".join(f"{mean_std(row[f'best@{k}']) if f'best@{k}' in row else '':>17}" for k in checkpoints)
        print(f"{method:<{method_width}}{cells}{row['median_seconds']:>{time_width}.1f}s")
