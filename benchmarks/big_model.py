"""Seconds and memory to score a large user model with ``score_model`` on this machine.

A VGG-style CNN of about 31 M parameters (13 conv layers up to 1,024 channels,
BatchNorm and ReLU), scored with ``naswot`` on a batch of 128 bundled
CIFAR-10 images, as ``score_model`` does by default:

    python benchmarks/big_model.py --threads 2 --out benchmarks/results/big_model_naswot.json
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch import nn

from tenas_automl import score_model
from tenas_automl._io import atomic_write_json


def vgg() -> nn.Module:
    layers: list[nn.Module] = []
    c = 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (1024, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c, 10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--indicators", default="naswot")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = sum(p.numel() for p in vgg().parameters())
    start = time.perf_counter()
    result = score_model(vgg, args.indicators, device="cpu")
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    doc = {"params": params, "threads": args.threads, "values": result.values, "seconds": result.seconds,
           "wall_seconds": wall, "peak_rss_mb": rss, "torch": torch.__version__}  # fmt: skip
    print(f"{params / 1e6:.1f} M parameters: {result.seconds} s, peak RSS {rss:.0f} MB")
    if args.out:
        atomic_write_json(args.out, doc)


if __name__ == "__main__":
    main()
