"""TE-NAS inside NNI 3.0: search NNI's NasBench201 hub space, training-free screening.

Two ``NasExperiment`` runs on NNI's in-process sequential engine (no NNI
manager, no web UI, nothing to install beyond ``tenas-automl[nni]``):

1. :class:`TENASPruningStrategy`: TE-NAS prunes our supernet without training,
   submits the result, then the neighbours of the best model so far, ranked
   by the indicators and by a model of the metrics returned so far;
2. :class:`IndicatorEvolutionStrategy`: screens a random sample by indicators,
   then evolves on the returned metrics, each child the best-scored of a few
   mutants.

Here "training" a model means looking up its NAS-Bench-201 accuracy
(:func:`benchmark_evaluator`), so this runs on a CPU in a few minutes; swap in
any NNI evaluator (e.g. ``nni.nas.evaluator.pytorch.Classification``) to
train for real: only ``--budget`` models are submitted.

    python examples/nni_nb201.py --budget 10           # about a minute on one CPU core
    python examples/nni_nb201.py --budget 10 --paper   # paper indicator settings (slower)
"""

from __future__ import annotations

import argparse
import logging
import tempfile

import torch
from nni.nas.experiment import NasExperiment, NasExperimentConfig  # noqa: E402
from nni.nas.hub.pytorch import NasBench201  # noqa: E402

from tenas_automl.integrations.nni import (
    IndicatorEvolutionStrategy,
    TENASPruningStrategy,
    benchmark_evaluator,
    to_arch,
)
from tenas_automl.spaces import get_space

#: Fewer images and one repeat per indicator: the paper's code paths in a fraction of the time.
FAST = {"ntk": {"batch_size": 16, "repeats": 1}, "lr": {"batch_size": 500, "batches": 1, "repeats": 1}}


def search(strategy: object, budget: int, workdir: str) -> NasExperiment:
    config = NasExperimentConfig("sequential", "simplified")  # in this process, no web server
    config.max_trial_number = budget
    config.experiment_working_directory = workdir  # checkpoints; resume with NasExperiment(..., id=...).resume()
    exp = NasExperiment(NasBench201(), benchmark_evaluator("nb201", "cifar10"), strategy, config)
    exp.run()
    exp.stop()
    return exp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=10, help="models submitted to NNI per strategy")
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
    space = get_space("nb201")
    workdir = tempfile.mkdtemp(prefix="tenas-nni-")
    strategies = {
        "TE-NAS pruning": TENASPruningStrategy(("ntk", "lr"), budget=args.budget, seed=args.seed, overrides=overrides),
        "indicator evolution": IndicatorEvolutionStrategy(("ntk", "lr"), budget=args.budget, seed=args.seed, overrides=overrides),
    }
    for title, strategy in strategies.items():
        exp = search(strategy, args.budget, workdir)
        print(f"\n{title}: {len(strategy.submitted)} models submitted to NNI")
        for i, m in enumerate(strategy.submitted, 1):
            print(f"  {i:>2}  {m.metric:6.2f}  {m.arch}")
        best = exp.export_top_models(top_k=1, formatter="dict")[0]  # NNI's sample dict ...
        arch = to_arch(best, space)  # ... is an NB201 architecture
        print(f"  best: {space.format(arch)}  CIFAR-10 {space.benchmark_accuracy(arch, 'cifar10'):.2f}% "
              f"(space best {space.best_accuracy('cifar10'):.2f}%)")  # fmt: skip
        if isinstance(strategy, TENASPruningStrategy) and strategy.prune_result:
            print(f"  pruning alone: {strategy.prune_result['arch']} in {strategy.prune_result['seconds']:.0f} s")
    print(f"\nNNI experiment folders: {workdir}")


if __name__ == "__main__":
    main()
