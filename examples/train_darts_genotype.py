"""Train a DARTS genotype: a few steps on the bundled sample (CPU), or in full on a GPU.

The genotype comes from a search result (``tenas-automl run --space darts
--output result.json``), from a published name (``darts_v2``, ``pc_darts``,
``tenas_cifar10``, ...) or from pasted ``Genotype(...)`` text.
``space.build(genotype)`` is an ordinary ``torch.nn.Module``; everything else
here is a plain training loop.

Quick check on a laptop CPU (bundled 1,000-image CIFAR-10 sample, a small
8-cell network at 16 channels, 62 steps, a couple of minutes)::

    python examples/train_darts_genotype.py --genotype darts_v2

Full DARTS recipe on a GPU with your CIFAR-10 (``cifar-10-batches-py``):
C=36, 20 cells, auxiliary head (weight 0.4), drop path 0.2, cutout 16, SGD
lr 0.025 with cosine decay, batch 96, 600 epochs (DARTS V2 reaches about
97.2% in the paper)::

    python examples/train_darts_genotype.py --result result.json \\
        --preset full --data-dir ~/data --device cuda --save model.pt
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tenas_automl import get_space, load_data
from tenas_automl.data import ImageData
from tenas_automl.device import resolve_device
from tenas_automl.spaces.darts.genotypes import PUBLISHED

log = logging.getLogger("train_darts_genotype")


@dataclass(frozen=True)
class Recipe:
    channels: int
    layers: int
    epochs: float  # fractional epochs are fine for the quick preset
    batch_size: int
    lr: float
    auxiliary_weight: float  # 0 turns the auxiliary head off
    drop_path: float
    cutout: int  # 0 turns cutout off
    weight_decay: float = 3e-4
    momentum: float = 0.9
    grad_clip: float = 5.0


#: ``full`` is DARTS's CIFAR-10 evaluation setting (train.py); ``quick`` is a smoke test.
PRESETS = {
    "full": Recipe(channels=36, layers=20, epochs=600, batch_size=96, lr=0.025, auxiliary_weight=0.4, drop_path=0.2, cutout=16),
    "quick": Recipe(channels=16, layers=8, epochs=2, batch_size=32, lr=0.05, auxiliary_weight=0.4, drop_path=0.0, cutout=0),
}


def read_genotype(args: argparse.Namespace) -> str:
    if args.result:
        doc = json.loads(Path(args.result).read_text())
        if doc.get("space") not in (None, "darts"):
            raise SystemExit(f"{args.result} is a {doc.get('space')!r} result; this example trains DARTS genotypes")
        return doc["arch"]
    return args.genotype  # a Genotype(...) text or a published name: space.parse reads both


class GPUAugment:
    """Crop (pad 4) + horizontal flip + optional cutout, on whole batches on the device."""

    def __init__(self, data: ImageData, device: torch.device, cutout: int) -> None:
        self.mean = torch.tensor(data.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(data.std, device=device).view(1, 3, 1, 1)
        self.cutout = cutout

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC -> normalised float NCHW."""
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = self.normalise(images)
        n, _, h, w = x.shape
        pad = h // 8
        padded = F.pad(x, (pad, pad, pad, pad))
        dev = x.device
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device="cpu").to(dev)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device="cpu").to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        batch = torch.arange(n, device=dev)[:, None, None, None]
        chan = torch.arange(3, device=dev)[None, :, None, None]
        x = padded[batch, chan, rows, cols]
        flip = (torch.rand(n, generator=gen) < 0.5).to(dev)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if self.cutout:
            # Cutout (DeVries & Taylor): zero a square centred anywhere, clipped at the border.
            cy = torch.randint(0, h, (n,), generator=gen).to(dev)
            cx = torch.randint(0, w, (n,), generator=gen).to(dev)
            ys = torch.arange(h, device=dev)[None, :, None]
            xs = torch.arange(w, device=dev)[None, None, :]
            half = self.cutout // 2
            hole = (
                (ys >= cy[:, None, None] - half)
                & (ys < cy[:, None, None] + half)
                & (xs >= cx[:, None, None] - half)
                & (xs < cx[:, None, None] + half)
            )
            x = x * (~hole)[:, None].to(x.dtype)
        return x


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, aug: GPUAugment, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        out = model(aug.normalise(images[i : i + batch_size]))
        correct += int((out.argmax(1) == labels[i : i + batch_size]).sum())
    return 100.0 * correct / len(images)


def train(
    genotype: str, data: ImageData, recipe: Recipe, device: torch.device, seed: int, save: Path | None = None
) -> dict[str, float]:
    space = get_space("darts")
    arch = space.parse(genotype)
    torch.manual_seed(seed)
    model = space.build(
        arch, channels=recipe.channels, layers=recipe.layers, num_classes=data.num_classes, auxiliary=recipe.auxiliary_weight > 0
    ).to(device)
    params_m = space.param_count_millions(arch, channels=recipe.channels, layers=recipe.layers, num_classes=data.num_classes)
    log.info(
        "genotype %s\nnetwork: C=%d, %d cells, %.3f M parameters (auxiliary head excluded)",
        genotype,
        recipe.channels,
        recipe.layers,
        params_m,
    )

    train_x = torch.from_numpy(data.train_images).to(device)
    train_y = torch.from_numpy(data.train_labels).to(device)
    test_x = torch.from_numpy(data.test_images).to(device)
    test_y = torch.from_numpy(data.test_labels).to(device)
    aug = GPUAugment(data, device, recipe.cutout)

    steps_per_epoch = max(1, len(train_x) // recipe.batch_size)
    total = max(1, round(recipe.epochs * steps_per_epoch))
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    order = torch.randperm(len(train_x), generator=gen)
    for step in range(total):
        epoch_pos = step % steps_per_epoch
        if epoch_pos == 0 and step:
            order = torch.randperm(len(train_x), generator=gen)
        # DARTS raises drop path linearly over training.
        model.drop_path_prob = recipe.drop_path * step / total
        model.train()
        idx = order[epoch_pos * recipe.batch_size : (epoch_pos + 1) * recipe.batch_size].to(device)
        out = model(aug(train_x[idx], gen))
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, train_y[idx])
        if aux is not None:
            loss = loss + recipe.auxiliary_weight * F.cross_entropy(aux, train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        opt.step()
        sched.step()
        if (step + 1) % max(1, total // 10) == 0 or step + 1 == total:
            log.info(
                "step %d/%d  loss %.3f  lr %.4f  %.0f s",
                step + 1,
                total,
                float(loss),
                sched.get_last_lr()[0],
                time.perf_counter() - start,
            )
        if not math.isfinite(float(loss)):
            raise SystemExit(f"loss became {float(loss)} at step {step + 1}; lower --lr")
    acc = evaluate(model, test_x, test_y, aug)
    seconds = time.perf_counter() - start
    if save is not None:
        tmp = save.with_name(save.name + ".tmp")
        torch.save({"genotype": genotype, "state_dict": model.state_dict(), "test_accuracy": acc}, tmp)
        tmp.replace(save)  # atomic: no half-written checkpoint
    return {"test_accuracy": acc, "params_millions": params_m, "steps": total, "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--genotype", default="darts_v2", help=f"Genotype(...) text or a published name: {', '.join(PUBLISHED)}")
    src.add_argument("--result", help="JSON written by `tenas-automl run --space darts --output`")
    p.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    p.add_argument("--epochs", type=float, help="override the preset's epochs")
    p.add_argument("--channels", type=int, help="override the preset's width")
    p.add_argument("--layers", type=int, help="override the preset's number of cells")
    p.add_argument("--data-dir", help="folder with cifar-10-batches-py (default: the bundled sample)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", type=Path, help="write the trained weights here")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    recipe = PRESETS[args.preset]
    overrides = {k: getattr(args, k) for k in ("epochs", "channels", "layers") if getattr(args, k) is not None}
    recipe = Recipe(**{**recipe.__dict__, **overrides})
    data = load_data("cifar10", args.data_dir)
    device = resolve_device(args.device)
    if args.preset == "full" and device.type == "cpu":
        log.warning("the full DARTS recipe takes GPU-days; on CPU use --preset quick")
    log.info("data: %s; device: %s", data, device)
    res = train(read_genotype(args), data, recipe, device, args.seed, args.save)
    print(
        f"test accuracy {res['test_accuracy']:.2f}% on {len(data.test_images)} test images after "
        f"{res['steps']} steps ({res['seconds']:.0f} s); {res['params_millions']:.3f} M parameters"
    )


if __name__ == "__main__":
    main()
