"""Your own CNN family as an NNI model space, searched training-free by ``IndicatorEvolutionStrategy``.

The space is the one of ``examples/optuna_custom_cnn.py`` written the NNI way:
``depth`` conv blocks (``Repeat``), each with its kernel size and activation
(``LayerChoice``). NNI freezes each sample into a plain network;
:class:`IndicatorEvolutionStrategy` scores frozen samples with ``naswot``
(``tenas_automl.score_model``, no training), submits the best-scored ones and
then mutates the best trained so far, each child the best-scored of a few
mutants. Only ``--budget`` models are trained (briefly, with SGD on the bundled
CIFAR-10 sample, as in the Optuna example; the last ``--val`` training images
are the validation split).

    python examples/nni_custom_cnn.py --budget 8 --steps 200
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings

import torch
from torch import nn

# NNI 3.0 warns on import about module types newer than it: harmless.
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module", category=RuntimeWarning)
from nni.nas.evaluator import FunctionalEvaluator  # noqa: E402
from nni.nas.experiment import NasExperiment, NasExperimentConfig  # noqa: E402
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, Repeat  # noqa: E402

# The same training as the Optuna example's (this folder is on sys.path when run as a script).
from optuna_custom_cnn import train, validation_split  # noqa: E402

from tenas_automl.integrations.nni import IndicatorEvolutionStrategy  # noqa: E402

WIDTH = 16


class Block(nn.Module):
    """conv (3x3 or 5x5) - BN - activation (ReLU family: NASWOT reads ReLU codes)."""

    def __init__(self, index: int, in_channels: int) -> None:
        super().__init__()
        self.conv = LayerChoice(
            {"k3": nn.Conv2d(in_channels, WIDTH, 3, padding=1), "k5": nn.Conv2d(in_channels, WIDTH, 5, padding=2)},
            label=f"kernel{index}",
        )
        self.bn = nn.BatchNorm2d(WIDTH)
        self.act = LayerChoice({"relu": nn.ReLU(), "relu6": nn.ReLU6(), "leaky": nn.LeakyReLU(0.1)}, label=f"act{index}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class CNNSpace(ModelSpace):
    """A stem block, then 1-4 more blocks with a pooling after the second."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Block(0, 3)
        self.blocks = Repeat(lambda i: Block(i + 1, WIDTH), (1, 4), label="depth")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(nn.functional.max_pool2d(self.stem(x), 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=8, help="models trained")
    ap.add_argument("--steps", type=int, default=200, help="training steps per model")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--val", type=int, default=500, help="training images held out for validation")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    logging.getLogger("nni").setLevel(logging.WARNING)
    data = validation_split(args.val)

    def evaluate(model: nn.Module) -> float:
        import nni

        accuracy = train(model, data, args.steps, args.batch, args.seed)
        nni.report_final_result(accuracy)
        return accuracy

    strategy = IndicatorEvolutionStrategy(
        ("naswot",), budget=args.budget, seed=args.seed, device="cpu", screen_size=16, initial=max(2, args.budget // 2),
        overrides={"naswot": {"batch_size": 64}},
    )  # fmt: skip
    config = NasExperimentConfig("sequential", "simplified")  # in this process, no web server
    config.max_trial_number = args.budget
    config.experiment_working_directory = tempfile.mkdtemp(prefix="tenas-nni-cnn-")
    start = time.perf_counter()
    exp = NasExperiment(CNNSpace(), FunctionalEvaluator(evaluate), strategy, config)
    exp.run()
    exp.stop()
    print(f"{'model':>5} {'naswot':>8} {'val %':>6}  sample")
    for i, m in enumerate(strategy.submitted):
        print(f"{i:5d} {m.indicators['naswot']:8.1f} {m.metric:6.1f}  {m.sample}")
    best = max(strategy.submitted, key=lambda m: m.metric)
    print(f"{len(strategy.submitted)} trained, chosen from {strategy.screen_size} screened samples and "
          f"{strategy.candidates} scored mutants per child; best {best.metric:.1f}% val with {best.sample}; "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
