"""Benchmark the NNI strategies on NAS-Bench-201: best accuracy found per models submitted.

Every "trained" model is looked up in the NB201 table (:func:`benchmark_evaluator`),
so a submission costs nothing and what is compared is how good the best of the
first k submitted models is. For each seed, on NNI's ``NasBench201`` hub space
and its in-process sequential engine:

* ``tenas-prune``: :class:`TENASPruningStrategy` (TE-NAS pruning, then
  indicator-ranked neighbours of the best model so far), ``--budget`` models;
* ``indicator-evolution``: :class:`IndicatorEvolutionStrategy`, ``--budget`` models;
* ``nni-evolution``: NNI's ``RegularizedEvolution`` (population 10, tournament
  3, as NB201's REA baseline), ``--baseline-budget`` models;
* ``nni-random``: NNI's ``Random`` (no repeats), ``--baseline-budget`` models.

Reported: mean ± std (ddof=1) over seeds of the best CIFAR-10 test accuracy
(200 epochs) among the first k models, for k in ``--checkpoints``, and the
seconds per run (the baselines cost nothing but the lookup; our strategies pay
for their indicator scoring). The JSON file is rewritten atomically after
every run; finished runs are skipped on a rerun. Smoke run::

    python benchmarks/nni_nb201.py --seeds 1 --preset fast --output /tmp/nni_nb201.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from tenas_automl import __version__
from tenas_automl._io import atomic_write_json
from tenas_automl.integrations.nni import (
    IndicatorEvolutionStrategy,
    TENASPruningStrategy,
    benchmark_evaluator,
    hub_space,
    to_arch,
)
from tenas_automl.spaces import get_space

import nni  # noqa: E402  (after tenas_automl.integrations.nni, which filters NNI's import warnings)
from nni.nas.execution import SequentialExecutionEngine  # noqa: E402
from nni.nas.space import SimplifiedModelSpace  # noqa: E402
from nni.nas.strategy import Random, RegularizedEvolution  # noqa: E402

log = logging.getLogger("nni_nb201")

METHODS = ("tenas-prune", "indicator-evolution", "nni-evolution", "nni-random")
OURS = ("tenas-prune", "indicator-evolution")
#: ``paper``: every indicator at its paper settings; ``fast``: one repeat, smaller batches
#: (same code paths, minutes instead of an hour per seed on a CPU).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {},
    "fast": {"ntk": {"batch_size": 16, "repeats": 1}, "lr": {"batch_size": 500, "batches": 1, "repeats": 1}},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..N-1 (default 10)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=20, help="models our strategies submit (default 20)")
    p.add_argument("--baseline-budget", type=int, default=100, help="models NNI's strategies submit (default 100)")
    p.add_argument("--checkpoints", default="10,20,50,100", help="k of best-of-first-k to report")
    p.add_argument("--indicators", default="ntk,lr", help="comma-separated (TE-NAS: ntk,lr)")
    p.add_argument("--preset", choices=tuple(PRESETS), default="paper", help="indicator settings")
    p.add_argument("--overrides", type=json.loads, default=None, help="indicator settings as JSON (beats --preset)")
    p.add_argument("--dataset", default="cifar10", help="benchmark column (and the indicators' images)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the proxy networks are tiny; more threads mostly add overhead)")
    p.add_argument("--output", default="benchmarks/results/nni_nb201.json")
    return p.parse_args(argv)


def make_strategy(method: str, seed: int, args: argparse.Namespace) -> Any:
    common = dict(
        indicators=[n.strip() for n in args.indicators.split(",") if n.strip()], budget=args.budget,
        seed=seed, dataset=args.dataset, device=args.device,
        overrides=args.overrides if args.overrides is not None else PRESETS[args.preset] or None,
    )  # fmt: skip
    if method == "tenas-prune":
        return TENASPruningStrategy(**common)
    if method == "indicator-evolution":
        return IndicatorEvolutionStrategy(**common)
    if method == "nni-evolution":
        # NB201's REA: population 10, tournament 3, one op changed per child on average.
        return RegularizedEvolution(population_size=10, sample_size=3, mutation_prob=1 / 6, seed=seed)
    return Random(dedup=True, seed=seed)


def run_one(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One search; the accuracy of every model in submission order, and costs."""
    budget = args.budget if method in OURS else args.baseline_budget
    strategy = make_strategy(method, seed, args)
    space = SimplifiedModelSpace.from_model(hub_space("nb201", args.dataset), benchmark_evaluator("nb201", args.dataset))
    engine = SequentialExecutionEngine(max_model_count=budget)
    start = time.perf_counter()
    strategy(space, engine)
    seconds = time.perf_counter() - start
    models = list(engine.list_models())
    nb201 = get_space("nb201")
    record: dict[str, Any] = {
        "method": method, "seed": seed, "budget": budget, "seconds": seconds,
        "values": [m.metric for m in models],
        "archs": [nb201.format(to_arch(m.sample, nb201)) for m in models],
    }  # fmt: skip
    if method in OURS:
        record["indicator_scorings"] = strategy.scored
        if method == "tenas-prune":
            record["prune"] = strategy.prune_result
    return record


def best_after(values: list[float | None], k: int) -> float | None:
    kept = [v for v in values[:k] if v is not None]
    return max(kept) if kept else None


def _ms(xs: list[float | None]) -> str:
    ys = [x for x in xs if x is not None and math.isfinite(x)]
    if not ys:
        return "-"
    sd = statistics.stdev(ys) if len(ys) > 1 else 0.0
    return f"{statistics.fmean(ys):.2f} ± {sd:.2f}"


def summarize(runs: list[dict[str, Any]], checkpoints: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method in METHODS:
        rs = [r for r in runs if r["method"] == method]
        if not rs:
            continue
        row: dict[str, Any] = {"seeds": len(rs), "budget": rs[0]["budget"],
                               "median_seconds": statistics.median(r["seconds"] for r in rs)}  # fmt: skip
        for k in checkpoints:
            if k <= rs[0]["budget"]:
                row[f"best@{k}"] = [best_after(r["values"], k) for r in rs]
        out[method] = row
    return out


def print_table(summary: dict[str, Any], checkpoints: list[int]) -> None:
    print(f"{'method':<21}" + "".join(f"{'best@' + str(k):>17}" for k in checkpoints) + f"{'time/run':>11}")
    for method, row in summary.items():
        cells = "".join(f"{_ms(row[f'best@{k}']) if f'best@{k}' in row else '':>17}" for k in checkpoints)
        print(f"{method:<21}{cells}{row['median_seconds']:>10.1f}s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("nni", "tenas_automl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r}; allowed: {', '.join(METHODS)}")
    checkpoints = sorted({int(k) for k in args.checkpoints.split(",")})
    nb201 = get_space("nb201")
    out = Path(args.output)
    config = {k: getattr(args, k) for k in ("budget", "baseline_budget", "indicators", "preset", "overrides", "dataset")}
    runs: list[dict[str, Any]] = []
    if out.exists():
        old = json.loads(out.read_text())
        if old.get("config") == config:
            runs = old.get("runs", [])
            log.info("resuming: %d finished runs in %s", len(runs), out)
    done = {(r["method"], r["seed"]) for r in runs}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for method in methods:
            if (method, seed) in done:
                continue
            record = run_one(method, seed, args)
            runs.append(record)
            log.info("%s seed %d: best %.2f of %d models in %.1f s", method, seed,
                     best_after(record["values"], record["budget"]) or math.nan, len(record["values"]),
                     record["seconds"])  # fmt: skip
            atomic_write_json(out, {
                "benchmark": "nni_nb201", "version": __version__, "nni": nni.__version__,
                "torch": torch.__version__, "python": platform.python_version(), "config": config,
                "checkpoints": checkpoints, "space_best": nb201.best_accuracy(args.dataset),
                "runs": runs, "summary": summarize(runs, checkpoints),
            })  # fmt: skip
    print(f"NB201 {args.dataset}: best benchmark accuracy (%) among the first k models submitted, mean ± std "
          f"over seeds (space best {nb201.best_accuracy(args.dataset):.2f}); indicators {args.indicators}, "
          f"preset {args.preset}")
    print_table(summarize([r for r in runs if r["method"] in methods], checkpoints), checkpoints)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
