"""Optuna + training-free NAS on NAS-Bench-201, with a short real training run per trial.

Each trial:

1. takes an architecture from ``TrainingFreeSampler`` (the best of a few
   candidates by training-free indicators, mutated from good earlier trials)
   together with a learning rate from its fallback TPE sampler;
2. asks ``TrainingFreePruner`` whether to train it at all (``should_prune``
   before the first report: weak architectures by the indicators stop here);
3. trains a small network of that cell (8 channels, 1 cell per stage) with SGD
   on the bundled CIFAR-10 sample, reporting validation accuracy a few times so
   that the wrapped ``MedianPruner`` can stop poor learning curves.

The validation images are the last ``--val`` training images, held out from
training; the test split is used once, for the best trial, after the study.

The small network and the few hundred steps make this a demonstration that
runs in a few minutes on a laptop CPU; the table also prints each cell's
NAS-Bench-201 accuracy (200 epochs, full CIFAR-10) for comparison.

    python examples/optuna_nb201.py --trials 12 --steps 300
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
from collections.abc import Callable

import optuna
import torch
from torch import nn

from tenas_automl import get_space
from tenas_automl.data import ImageData, image_batch, load_data
from tenas_automl.integrations.optuna import (
    PRUNED_ATTR,
    TrainingFreePruner,
    TrainingFreeSampler,
    architecture_from_params,
    suggest_architecture,
)


def evaluate_accuracy(model: nn.Module, data: ImageData) -> float:
    """Top-1 accuracy (%) on the whole "test" split of ``data`` (validation images while tuning)."""
    model.eval()
    x, y = image_batch(data, len(data.test_images), seed=0, split="test")
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).sum().item()
    model.train()
    return 100.0 * correct / len(y)


def hold_out(data: ImageData, n_val: int) -> ImageData:
    """``data`` with its last ``n_val`` training images as the evaluation split, the test split left out."""
    if not 0 < n_val < len(data.train_images):
        raise SystemExit(f"--val must be in [1, {len(data.train_images) - 1}], got {n_val}")
    return dataclasses.replace(
        data, train_images=data.train_images[:-n_val], train_labels=data.train_labels[:-n_val],
        test_images=data.train_images[-n_val:], test_labels=data.train_labels[-n_val:],
        source=f"{data.source}, last {n_val} training images as validation",
    )  # fmt: skip


def train(space, arch, lr: float, data: ImageData, steps: int, batch_size: int, channels: int, seed: int,
          report: Callable[[float, int], None] | None = None) -> float:  # fmt: skip
    """Train the cell's small network with SGD; its accuracy on ``data``'s evaluation split (%)."""
    torch.manual_seed(seed)
    model = space.build(arch, channels=channels, cells_per_stage=1, num_classes=data.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    every = max(1, steps // 4)
    accuracy = 0.0
    for step in range(1, steps + 1):
        x, y = image_batch(data, batch_size, seed=seed * 100_003 + step, augment=True)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if not math.isfinite(loss.item()):
            raise optuna.TrialPruned()  # diverged
        if step % every == 0 or step == steps:
            accuracy = evaluate_accuracy(model, data)
            if report is not None:
                report(accuracy, step)
    return accuracy


def make_objective(space, data: ImageData, steps: int, batch_size: int, channels: int):
    def objective(trial: optuna.Trial) -> float:
        arch = suggest_architecture(trial, space)
        lr = trial.suggest_float("lr", 0.01, 0.2, log=True)
        # Training-free check before any training step.
        if trial.should_prune():
            raise optuna.TrialPruned()

        def report(accuracy: float, step: int) -> None:
            trial.report(accuracy, step)
            if trial.should_prune():  # the wrapped MedianPruner decides from here on
                raise optuna.TrialPruned()

        return train(space, arch, lr, data, steps, batch_size, channels, seed=trial.number, report=report)

    return objective


def _num(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200, help="SGD steps per trial")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--indicators", default="naswot,lr", help="comma-separated; the paper's TE-NAS: ntk,lr")
    parser.add_argument("--candidates", type=int, default=4, help="architectures scored per trial")
    parser.add_argument("--percentile", type=float, default=25.0, help="prune below this percentile of indicator scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val", type=int, default=500, help="training images held out for validation")
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 folder or .npz (default: bundled sample)")
    parser.add_argument("--storage", default=None, help="e.g. sqlite:///nb201.db to keep (and resume) the study")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    # Candidates without a path from input to output score NaN and rank last: no need to say so.
    logging.getLogger("tenas_automl.indicators").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = get_space("nb201")
    data = load_data("cifar10", args.data_dir)
    indicators = tuple(n.strip() for n in args.indicators.split(",") if n.strip())
    common = dict(seed=args.seed, dataset="cifar10", data_dir=args.data_dir, device="cpu")
    sampler = TrainingFreeSampler(space, "evolution", indicators, candidates=args.candidates, n_startup_trials=4, **common)
    # Same indicators and seed as the sampler: the pruner reuses its stored scores.
    pruner = TrainingFreePruner(
        space, indicators, percentile=args.percentile, warmup=3,
        wrapped=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1), **common,
    )  # fmt: skip
    study = optuna.create_study(
        study_name="nb201-example", storage=args.storage, load_if_exists=True,
        direction="maximize", sampler=sampler, pruner=pruner,
    )  # fmt: skip
    start = time.perf_counter()
    tuning = hold_out(data, args.val)
    objective = make_objective(space, tuning, args.steps, args.batch_size, args.channels)
    study.optimize(objective, n_trials=args.trials)
    seconds = time.perf_counter() - start

    # val%: final validation accuracy, or the last one reported before a pruner stopped the trial.
    print(f"{'#':>3} {'state':<8} {'val%':>6} {'NB201%':>7} " + " ".join(f"{n:>9}" for n in indicators) + "  arch")
    for t in study.trials:
        arch = architecture_from_params(t.params, space)
        state = "pruned0" if t.user_attrs.get(PRUNED_ATTR) else t.state.name.lower()
        val = "-" if t.value is None else f"{t.value:.1f}"
        scores = " ".join(f"{_num(t.user_attrs.get(f'tenas:{n}')):>9.4g}" for n in indicators)
        bench = space.benchmark_accuracy(arch, "cifar10")
        print(f"{t.number:>3} {state:<8} {val:>6} {bench:>7.2f} {scores}  {space.format(arch)}")
    best = study.best_trial
    arch = architecture_from_params(best.params, space)
    print(
        f"\nbest trial {best.number}: {best.value:.1f}% after {args.steps} steps "
        f"(NB201 200-epoch accuracy {space.benchmark_accuracy(arch, 'cifar10'):.2f}%), lr {best.params['lr']:.3f}"
    )
    print(f"{space.format(arch)}")
    print(f"{len(study.trials)} trials in {seconds:.0f} s ('pruned0': stopped by the indicators before training)")
    # The test split, untouched while tuning: the best trial trained again, evaluated once.
    final = dataclasses.replace(data, train_images=tuning.train_images, train_labels=tuning.train_labels)
    test = train(space, arch, best.params["lr"], final, args.steps, args.batch_size, args.channels, seed=best.number)
    print(f"best trial's test accuracy ({len(data.test_images)} test images): {test:.1f}%")


if __name__ == "__main__":
    main()
