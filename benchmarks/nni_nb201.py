"""Benchmark the NNI strategies on NAS-Bench-201: best accuracy found per models submitted.

Every "trained" model is looked up in the NB201 table (:func:`benchmark_evaluator`),
so a submission costs nothing and what is compared is how good the best of the
first k submitted models is. For each seed, on NNI's ``NasBench201`` hub space
and its in-process sequential engine:

* ``tenas-prune``: :class:`TENASPruningStrategy` (TE-NAS pruning, then
  indicator-ranked neighbours of the best model so far), ``--budget`` models;
* ``indicator-evolution``: :class:`IndicatorEvolutionStrategy`, ``--budget`` models;
* ``tuner``: :class:`TrainingFreeTuner` (the ``nnictl`` tuner, evolution), driven
  in-process one trial at a time (``generate_parameters``, then the table's
  accuracy to ``receive_trial_result``), ``--budget`` trials;
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
import statistics
import time
from pathlib import Path
from typing import Any

import nni  # noqa: E402  (after tenas_automl.integrations.nni, which filters NNI's import warnings)
import torch
from _common import (  # benchmarks/_common.py
    best_after,
    load_runs,
    parse_checkpoints,
    parse_methods,
    print_best_table,
    run_pending,
    write_results,
)
from nni.nas.execution import SequentialExecutionEngine  # noqa: E402
from nni.nas.space import SimplifiedModelSpace  # noqa: E402
from nni.nas.strategy import Random, RegularizedEvolution  # noqa: E402

from tenas_automl.integrations.nni import (
    IndicatorEvolutionStrategy,
    TENASPruningStrategy,
    benchmark_evaluator,
    hub_space,
    to_arch,
)
from tenas_automl.spaces import get_space

log = logging.getLogger("nni_nb201")

METHODS = ("tenas-prune", "indicator-evolution", "tuner", "nni-evolution", "nni-random")
OURS = ("tenas-prune", "indicator-evolution", "tuner")
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
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the proxy networks are tiny; more threads mostly add overhead)",
    )
    p.add_argument(
        "--surrogate-weight",
        type=float,
        default=0.5,
        help="tenas-prune: weight of the metric model beside the indicators (0 = indicators only)",
    )
    p.add_argument("--output", default="benchmarks/results/nni_nb201.json")
    return p.parse_args(argv)


def make_strategy(method: str, seed: int, args: argparse.Namespace) -> Any:
    common = dict(
        indicators=[n.strip() for n in args.indicators.split(",") if n.strip()], budget=args.budget,
        seed=seed, dataset=args.dataset, device=args.device,
        overrides=args.overrides if args.overrides is not None else PRESETS[args.preset] or None,
    )  # fmt: skip
    if method == "tenas-prune":
        return TENASPruningStrategy(**common, surrogate_weight=args.surrogate_weight)
    if method == "indicator-evolution":
        return IndicatorEvolutionStrategy(**common)
    if method == "nni-evolution":
        # NB201's REA: population 10, tournament 3, one op changed per child on average.
        return RegularizedEvolution(population_size=10, sample_size=3, mutation_prob=1 / 6, seed=seed)
    return Random(dedup=True, seed=seed)


def run_tuner(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """TrainingFreeTuner as nnictl drives it with one trial at a time, the table as the trials' metric."""
    from tenas_automl.integrations.nni.config import arch_from_params, search_space_for
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner

    nb201 = get_space("nb201")
    tuner = TrainingFreeTuner(
        space="nb201", indicators=[n.strip() for n in args.indicators.split(",") if n.strip()], seed=seed,
        scoring="paper", overrides=args.overrides if args.overrides is not None else PRESETS[args.preset] or None,
        dataset=args.dataset, device=args.device if args.device != "auto" else "cpu", threads=args.threads,
    )  # fmt: skip
    tuner.update_search_space(search_space_for(nb201))
    start = time.perf_counter()
    values, archs = [], []
    for i in range(args.budget):
        params = tuner.generate_parameters(i)
        arch = arch_from_params(params, nb201)
        values.append(float(nb201.benchmark_accuracy(arch, args.dataset)))
        archs.append(nb201.format(arch))
        tuner.receive_trial_result(i, params, values[-1])
    seconds = time.perf_counter() - start
    return {"method": "tuner", "seed": seed, "budget": args.budget, "seconds": seconds, "values": values,
            "archs": archs, "indicator_scorings": len(tuner.scores)}  # fmt: skip


def run_one(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One search; the accuracy of every model in submission order, and costs."""
    if method == "tuner":
        return run_tuner(seed, args)
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
    print_best_table(summary, checkpoints, method_width=21, time_width=10)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("nni", "tenas_automl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = parse_methods(args.methods, METHODS)
    checkpoints = parse_checkpoints(args.checkpoints)
    nb201 = get_space("nb201")
    out = Path(args.output)
    keys = ("budget", "baseline_budget", "indicators", "preset", "overrides", "dataset", "surrogate_weight")
    config = {k: getattr(args, k) for k in keys}
    runs = load_runs(out, config, "runs", log)

    def after(record: dict[str, Any]) -> None:
        log.info("%s seed %d: best %.2f of %d models in %.1f s", record["method"], record["seed"],
                 best_after(record["values"], record["budget"]) or math.nan, len(record["values"]),
                 record["seconds"])  # fmt: skip
        write_results(
            out, "nni_nb201", {"nni": nni.__version__}, config=config, checkpoints=checkpoints,
            space_best=nb201.best_accuracy(args.dataset), runs=runs, summary=summarize(runs, checkpoints),
        )  # fmt: skip

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    run_pending(runs, seeds, methods, lambda method, seed: run_one(method, seed, args), after)
    print(
        f"NB201 {args.dataset}: best benchmark accuracy (%) among the first k models submitted, mean ± std "
        f"over seeds (space best {nb201.best_accuracy(args.dataset):.2f}); indicators {args.indicators}, "
        f"preset {args.preset}"
    )
    print_table(summarize([r for r in runs if r["method"] in methods], checkpoints), checkpoints)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
