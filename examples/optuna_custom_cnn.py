"""Screen your own CNN family with training-free indicators before training it, in Optuna.

The search space is an ordinary Optuna one (depth, width, kernel size,
activation), not NB201 or DARTS. ``TrainingFreePruner(model_fn=build)`` builds
each trial's network from the parameters suggested so far and scores it with
``naswot`` (no training); trials that rank in the bottom half of those scored
so far are pruned before a single training step. The others train briefly
with SGD on the bundled CIFAR-10 sample; the last ``--val`` training images are
the validation split. The summary says how many trainings the pruner saved.

    python examples/optuna_custom_cnn.py --trials 20 --steps 200
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import optuna
import torch
from torch import nn

from tenas_automl.data import ImageData, image_batch, load_data
from tenas_automl.integrations.optuna import ERROR_ATTR, PRUNED_ATTR, TrainingFreePruner

# NASWOT reads ReLU activation codes, so the activations are of the ReLU family
# (with GELU or SiLU it has no codes to read; choose e.g. synflow or snip then).
ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "leaky": nn.LeakyReLU}


def build(params: dict) -> nn.Module:
    """The CNN a trial's parameters describe: ``depth`` conv blocks, doubling width after each pooling."""
    layers: list[nn.Module] = []
    channels, width = 3, params["width"]
    for i in range(params["depth"]):
        k = params["kernel"]
        layers += [nn.Conv2d(channels, width, k, padding=k // 2), nn.BatchNorm2d(width), ACTIVATIONS[params["act"]]()]
        channels = width
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
            width *= 2
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))


def suggest(trial: optuna.Trial) -> dict:
    return {
        "depth": trial.suggest_int("depth", 2, 6),
        "width": trial.suggest_int("width", 8, 32, log=True),
        "kernel": trial.suggest_categorical("kernel", [3, 5]),
        "act": trial.suggest_categorical("act", list(ACTIVATIONS)),
    }


def validation_split(val: int) -> ImageData:
    """The bundled CIFAR-10 sample, with its last ``val`` training images as the test split."""
    full = load_data("cifar10")
    return dataclasses.replace(
        full, train_images=full.train_images[:-val], train_labels=full.train_labels[:-val],
        test_images=full.train_images[-val:], test_labels=full.train_labels[-val:],
    )  # fmt: skip


def train(model: nn.Module, data: ImageData, steps: int, batch: int, seed: int) -> float:
    """SGD with a cosine schedule; accuracy (%) on the validation split."""
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for step in range(steps):
        x, y = image_batch(data, batch, seed=seed * 100_003 + step, augment=True)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    model.eval()
    x, y = image_batch(data, len(data.test_images), seed=0, split="test")
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200, help="training steps per trial that is not pruned")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--val", type=int, default=500, help="training images held out for validation")
    ap.add_argument("--warmup", type=int, default=5, help="trials scored before the pruner prunes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storage", default=None, help="an Optuna storage URL (default: in memory)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = validation_split(args.val)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        if trial.should_prune():  # naswot of the untrained network, ranked among the trials so far
            raise optuna.TrialPruned()
        return train(build(params), data, args.steps, args.batch, args.seed + trial.number)

    pruner = TrainingFreePruner(model_fn=build, indicators=("naswot",), warmup=args.warmup, seed=args.seed, device="cpu")
    study = optuna.create_study(
        direction="maximize", storage=args.storage, pruner=pruner, sampler=optuna.samplers.TPESampler(seed=args.seed)
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=args.trials)
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in trials if t.user_attrs.get(PRUNED_ATTR)]
    failed = [t for t in trials if ERROR_ATTR in t.user_attrs]
    print(f"{'trial':>5} {'depth':>5} {'width':>5} {'kernel':>6} {'act':>5} {'naswot':>8}  outcome")
    for t in trials:
        outcome = f"{t.value:.1f}% val" if t.value is not None else ("pruned" if t in pruned else "failed")
        p = t.params
        print(f"{t.number:5d} {p['depth']:5d} {p['width']:5d} {p['kernel']:6d} {p['act']:>5} "
              f"{t.user_attrs.get('tenas:naswot') or float('nan'):8.1f}  {outcome}")  # fmt: skip
    print(f"{len(trained)} trained, {len(pruned)} pruned before training, {len(failed)} failed to build; "
          f"best {study.best_value:.1f}% val with {study.best_params}; {time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
