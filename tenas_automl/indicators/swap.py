"""``swap``: SWAP-Score, the number of distinct sample-wise activation patterns (Peng et al., ICLR 2024).

A batch goes through the network; every ``nn.ReLU`` that reads a 4-D tensor
contributes the signs of its output units (1 where a unit fires, 0 where
not). Each unit then has a pattern over the samples, a row of B bits; the
score is the number of distinct rows. With ``mu`` and ``sigma`` set it is
regularised by the network's size, multiplied by
``exp(-(P - mu)^2 / sigma)`` with P the parameters (in thousands) of the
network that runs, which favours architectures near ``mu`` thousand
parameters. Higher is better.

Settings follow the official code's driver (pym1024/SWAP, ``correlation.py``):
a thin network (3 channels, one cell, no stem: on DARTS a single reduction
cell, as ``Network(3, 10, 1, genotype)`` builds it), weights redrawn from a
standard normal (BatchNorm 1 and 0) for each of 32 repeats, 16 training
images without augmentation, the mean over repeats. The official driver
scores without regularisation and publishes no ``mu``/``sigma`` for NB201, so
none is the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tenas_automl.errors import TenasError
from tenas_automl.indicators._nn import logits, running_parameters
from tenas_automl.indicators.base import Context, Indicator, derive_seed, repeat_indices
from tenas_automl.indicators.linear_regions import OneCellSettings, count_distinct
from tenas_automl.spaces.base import Mask, Space, Supernet


@dataclass(frozen=True)
class SwapSettings(OneCellSettings):
    """SWAP settings (official driver: 3 channels, one cell, no stem, 16 images, 32 repeats)."""

    width: int = 3
    batch_size: int = 16
    repeats: int = 32
    #: Regularisation centre and width, in thousands of parameters (None: off).
    mu: float | None = None
    sigma: float | None = None

    def validate(self) -> None:
        super().validate()
        if (self.mu is None) != (self.sigma is None):
            raise TenasError(f"SWAP regularisation needs both mu and sigma, got mu={self.mu!r}, sigma={self.sigma!r}")
        if self.sigma is not None and not self.sigma > 0:
            raise TenasError(f"setting sigma={self.sigma!r} must be positive")


def gaussian_init(model: nn.Module) -> None:
    """SWAP's initialisation: conv and linear weights N(0, 1), biases 0, norms 1 and 0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def swap_score(model: nn.Module, x: torch.Tensor, count_params: bool = True) -> tuple[int, float]:
    """(distinct activation patterns over the batch, parameters in thousands of the modules
    that run; NaN unless ``count_params``)."""
    signs: list[torch.Tensor] = []

    def relu_hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if inp[0].dim() == 4:
            signs.append((out > 0).reshape(out.shape[0], -1))

    handles = [m.register_forward_hook(relu_hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            logits(model, x)
    finally:
        for h in handles:
            h.remove()
    params = sum(p.numel() for _, p in running_parameters(model, x)) / 1e3 if count_params else math.nan
    if not signs:
        return 0, params
    units = torch.cat(signs, dim=1).T.contiguous()  # (units, samples): one pattern per unit
    if units.shape[1] <= 62:  # each pattern fits in one int64: a 1-D unique is much faster
        bits = torch.pow(2, torch.arange(units.shape[1], device=units.device, dtype=torch.int64))
        return int(torch.unique(units.to(torch.int64) @ bits).numel()), params
    return count_distinct(units), params


def regularised_swap(count: int, params: float, s: SwapSettings) -> float:
    """SWAP-Score ``count`` times the Gaussian size factor around ``s.mu`` (1 when the regularisation is off)."""
    return count * (1.0 if s.mu is None else math.exp(-((params - s.mu) ** 2) / float(s.sigma)))


class Swap(Indicator):
    """SWAP-Score: distinct sample-wise ReLU patterns, optionally size-regularised (ICLR 2024); higher is better."""

    name = "swap"
    higher_is_better = True
    cost = "low"
    settings_class = SwapSettings
    #: DARTS: one reduction cell, as the official driver's Network(3, 10, 1, genotype).
    space_defaults = {"darts": {"layers": 1}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, SwapSettings)
        x = ctx.images(s.batch_size, augment=s.augment, input_size=s.input_size)[0]
        values = np.full((s.repeats, len(masks)), np.nan)
        for r in range(s.repeats):
            wi, _ = repeat_indices(s, r)
            net = self._network(ctx, s, wi)
            for k, mask in enumerate(masks):
                net.set_mask(mask)
                count, params = swap_score(net, x, count_params=s.mu is not None)
                values[r, k] = regularised_swap(count, params, s)
        return values.mean(0)

    @staticmethod
    def _network(ctx: Context, s: SwapSettings, wi: int) -> Supernet:
        config = tuple(sorted(s.net_kwargs(ctx.data.num_classes).items()))

        def make() -> Supernet:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(ctx.seed, "gaussian", wi))
                net = ctx.space.build_supernet(None, **dict(config))
                gaussian_init(net)
            return net.to(ctx.device).train()

        return ctx.memo(("gaussian-network", config, wi), make)
