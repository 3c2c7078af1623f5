"""``zico``: ZiCo, the inverse coefficient of variation of the gradients (Li et al., ICLR 2023).

For every conv and linear layer, the cross-entropy gradient of its weights is
taken on each of ``batches`` batches; per weight, ``mean |g|`` and the standard
deviation of ``g`` over the batches (population std). The layer contributes
``log sum mean|g| / std`` over the weights whose std is not 0 (nothing when
that sum is 0); the score is the sum over layers. Higher is better.

Paper settings, as AZ-NAS's NB201 port of the official code (which equals
SLDGroup/ZiCo on the architectures checked): the full network (16 channels, 5
cells per stage, PyTorch default init, train mode), two disjoint batches of 64
training images without augmentation. Layers the mask switches off, or whose
output does not reach the loss, have no gradient and contribute nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tenas_automl.errors import TenasError
from tenas_automl.indicators._nn import is_constant, logits
from tenas_automl.indicators._repeats import mean_over_repeats
from tenas_automl.indicators.base import Context, Indicator, NetSettings
from tenas_automl.indicators.baselines import prunable_layers
from tenas_automl.spaces.base import Mask, Space, Supernet


@dataclass(frozen=True)
class ZicoSettings(NetSettings):
    """ZiCo settings: ``batches`` disjoint batches of ``batch_size`` images (official: 2 x 64)."""

    width: int = 16
    cells: int = 5
    batch_size: int = 64
    batches: int = 2
    repeats: int = 1
    augment: bool = False

    def validate(self) -> None:
        super().validate()
        if self.batches < 2:
            raise TenasError(f"setting batches={self.batches!r}: ZiCo needs at least 2 batches for a standard deviation")


def zico_from_gradients(grads: Sequence[torch.Tensor]) -> float:
    """ZiCo of per-layer gradient stacks, each ``(batches, weights)``."""
    total = 0.0
    for g in grads:
        g = g.to(torch.float64)
        std = g.std(0, unbiased=False)
        keep = std != 0
        ratio = float((g.abs().mean(0)[keep] / std[keep]).sum())
        if ratio != 0.0:
            total += math.log(ratio)
    return total


def zico_score(model: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, bool]:
    """ZiCo of ``model`` over ``batches``; and whether every batch's output was constant."""
    layers = prunable_layers(model)
    weights = [m.weight for m in layers]
    per_layer: list[list[torch.Tensor]] = [[] for _ in layers]
    constant = True
    for x, y in batches:
        out = logits(model, x)
        constant = constant and is_constant(out)
        grads = torch.autograd.grad(F.cross_entropy(out, y), weights, allow_unused=True)
        for k, g in enumerate(grads):
            if g is not None:
                per_layer[k].append(g.detach().reshape(-1))
    stacks = [torch.stack(g) for g in per_layer if len(g) == len(batches)]
    return zico_from_gradients(stacks), constant


class Zico(Indicator):
    """ZiCo: sum over layers of log sum |mean g| / std g over batches (ICLR 2023); higher is better."""

    name = "zico"
    higher_is_better = True
    cost = "low"
    settings_class = ZicoSettings
    #: DARTS: the DARTS search network's size (16 channels, 8 cells); no paper setting.
    space_defaults = {"darts": {"layers": 8}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, ZicoSettings)

        def batches(di: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
            x, y = ctx.images(s.batch_size * s.batches, index=di, augment=s.augment, input_size=s.input_size)
            return list(zip(x.split(s.batch_size), y.split(s.batch_size)))

        def score(net: Supernet, data: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
            value, constant = zico_score(net, data)
            return math.nan if constant else value

        return mean_over_repeats(s, masks, ctx, batches, score)
