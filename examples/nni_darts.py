"""Training-free search of NNI's DARTS hub space, then (optionally) a short real training.

The strategy scores DARTS cells on our supernets with the TE-NAS indicators
and submits only ``--budget`` of them to NNI. What a submission costs depends
on the evaluator:

* ``--evaluator training-free`` (default): the metric is the indicators'
  standard score against a few random cells (:func:`training_free_evaluator`),
  so the whole ``NasExperiment`` runs without training;
* ``--evaluator train``: each submitted cell is trained for ``--steps`` SGD
  steps on the bundled CIFAR-10 sample and reports its test accuracy, the
  shape of a real NNI setup (swap in your own training for real numbers).

    python examples/nni_darts.py --budget 6                              # ~30 s on one CPU core
    python examples/nni_darts.py --budget 4 --evaluator train --steps 30
    python examples/nni_darts.py --strategy prune --budget 3   # TE-NAS pruning first: ~10 min on a CPU
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from typing import Any

import nni  # noqa: E402
import torch
import torch.nn.functional as F
from nni.nas.evaluator import FunctionalEvaluator  # noqa: E402
from nni.nas.experiment import NasExperiment, NasExperimentConfig  # noqa: E402
from nni.nas.hub.pytorch import DARTS  # noqa: E402

from tenas_automl.data import image_batch, load_data
from tenas_automl.integrations.nni import (
    IndicatorEvolutionStrategy,
    TENASPruningStrategy,
    to_arch,
    training_free_evaluator,
)
from tenas_automl.spaces import get_space

FAST = {"ntk": {"batch_size": 14, "repeats": 1}, "lr": {"batch_size": 500, "batches": 1, "repeats": 1}}


def train_briefly(model: torch.nn.Module, steps: int, batch_size: int = 32, seed: int = 0) -> float:
    """A few SGD steps on the bundled CIFAR-10 sample; reports test accuracy (%) to NNI."""
    data = load_data("cifar10")
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    model.train()
    for step in range(steps):
        x, y = image_batch(data, batch_size, seed=seed * 100_003 + step, augment=True)
        opt.zero_grad()
        out = model(x)
        F.cross_entropy(out[0] if isinstance(out, tuple) else out, y).backward()
        opt.step()
    model.eval()
    x, y = image_batch(data, 200, seed=seed, split="test")
    with torch.no_grad():
        out = model(x)
        accuracy = float(((out[0] if isinstance(out, tuple) else out).argmax(1) == y).float().mean() * 100)
    nni.report_final_result(accuracy)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=("evolution", "prune"), default="evolution")
    parser.add_argument("--evaluator", choices=("training-free", "train"), default="training-free")
    parser.add_argument("--budget", type=int, default=6, help="models submitted to NNI")
    parser.add_argument("--steps", type=int, default=30, help="SGD steps per model with --evaluator train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paper", action="store_true", help="paper indicator settings instead of FAST")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: the proxy networks are tiny, threads only add overhead)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nni").setLevel(logging.WARNING)
    overrides = None if args.paper else FAST
    indicators = ("ntk", "lr")
    space = get_space("darts")

    strategy: Any
    if args.strategy == "prune":
        strategy = TENASPruningStrategy(indicators, budget=args.budget, seed=args.seed, overrides=overrides)
    else:
        strategy = IndicatorEvolutionStrategy(
            indicators, budget=args.budget, seed=args.seed, overrides=overrides, screen_size=32, candidates=4
        )
    if args.evaluator == "train":
        evaluator = FunctionalEvaluator(train_briefly, steps=args.steps, seed=args.seed)
    else:
        evaluator = training_free_evaluator("darts", indicators, reference=16, seed=args.seed, overrides=overrides)

    config = NasExperimentConfig("sequential", "simplified")  # in-process, no web UI
    config.max_trial_number = args.budget
    config.experiment_working_directory = tempfile.mkdtemp(prefix="tenas-nni-darts-")
    # A small DARTS network (width 8, 5 cells) so that --evaluator train is quick on a CPU.
    exp = NasExperiment(DARTS(width=8, num_cells=5), evaluator, strategy, config)
    exp.run()
    exp.stop()

    print(f"{len(strategy.submitted)} DARTS cells submitted ({args.strategy}, evaluator {args.evaluator}):")
    for i, m in enumerate(strategy.submitted, 1):
        print(f"  {i:>2}  metric {m.metric:8.4g}  ntk {m.indicators.get('ntk', float('nan')):9.4g}  "
              f"lr {m.indicators.get('lr', float('nan')):7.4g}")  # fmt: skip
    best = to_arch(exp.export_top_models(top_k=1, formatter="dict")[0], space)
    print(f"\nbest: {space.format(best)}")
    print(f"DARTS evaluation network (C=36, 20 cells): {space.param_count_millions(best):.2f} M parameters")


if __name__ == "__main__":
    main()
