"""NNI trial written by `tenas-automl nni-config`: evaluate one proposed architecture.

NNI runs `python trial.py --space nb201 [--benchmark]` once per trial. The
architecture comes from `nni.get_next_parameter()` (one value per key of
search_space.json) and the final metric, test accuracy in percent, goes back
with `nni.report_final_result`.

* default: build the network with `space.build(...)` at a small width, train it
  for a few dozen SGD steps on the CIFAR-10 sample bundled with tenas-automl
  and test it on the bundled test images (a smoke-test proxy: replace
  `train_and_test` with your own training for real numbers);
* `--benchmark` (NB201 only): report the NAS-Bench-201 CIFAR-10 test accuracy.

Outside NNI, pass the parameters yourself: `python trial.py --params '{...}'`.
"""

from __future__ import annotations

import argparse
import json
import logging

import nni
import torch
from torch import nn

from tenas_automl.data import image_batch, load_data
from tenas_automl.integrations.nni.config import arch_from_params
from tenas_automl.spaces import get_space

logger = logging.getLogger("tenas_automl.trial")


def build_network(space_name: str, arch: object, num_classes: int) -> nn.Module:
    """A small network of ``arch``: quick to train on a CPU."""
    return get_space(space_name).build_small(arch, num_classes=num_classes)


def train_and_test(model: nn.Module, steps: int, batch_size: int, seed: int) -> float:
    """Train with SGD + cosine schedule on the bundled sample; return test accuracy (%)."""
    data = load_data("cifar10")
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    model.train()
    for step in range(steps):
        x, y = image_batch(data, batch_size, seed=seed * 1_000_003 + step, augment=True)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    model.eval()
    x, y = image_batch(data, len(data.test_labels), seed=seed, split="test")
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), 256):
            correct += int((model(x[start : start + 256]).argmax(1) == y[start : start + 256]).sum())
    return 100.0 * correct / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="nb201", choices=["nb201", "darts"])
    parser.add_argument("--benchmark", action="store_true", help="report the NB201 benchmark accuracy")
    parser.add_argument("--steps", type=int, default=40, help="SGD steps (default 40)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", help="the parameters as JSON, to run outside NNI")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    params = json.loads(args.params) if args.params else nni.get_next_parameter()
    if not params:
        parser.error("no parameters: run this under NNI, or give --params '{...}'")
    space = get_space(args.space)
    arch = arch_from_params(params, space)
    logger.info("architecture: %s", space.format(arch))
    if args.benchmark:
        accuracy = space.benchmark_accuracy(arch, "cifar10")
        if accuracy is None:
            parser.error(f"--benchmark: space {args.space} has no benchmark accuracies")
    else:
        model = build_network(args.space, arch, num_classes=10)
        accuracy = train_and_test(model, args.steps, args.batch_size, args.seed)
    logger.info("test accuracy: %.2f%%", accuracy)
    nni.report_final_result(float(accuracy))


if __name__ == "__main__":
    main()
