"""``lr``: number of linear regions (TE-NAS; TEG-NAS's "E"); higher is better.

Every ``nn.ReLU`` module with a 4-D input records, per sample, the sign
pattern of its output; a sample's code is the concatenation over ReLUs, and
the score is the number of distinct codes among the inputs (distinct
activation patterns = linear regions the inputs fall in). As in TE-NAS's
counter, only ``nn.ReLU`` instances count, not the ReLU-conv-BN ops that
hold them (version 2; version 1 also took the signs of those ops' BatchNorm
outputs, which split regions the network does not split).

Paper settings: the thin supernet (1 channel, 1 input channel, no stem, one
stage of one cell, then BN, ReLU, pooling, linear) in train mode; inputs are
3 batches of 1,000 random 3x3 single-channel crops of normalised training
images, each batch forwarded separately (BatchNorm uses that batch's
statistics) and the codes of all 3,000 counted together, as the official
collector does; 3 repeats averaged. The official counter's fp16 matrix trick
can give fractional counts; here codes are packed into bytes and counted
exactly with ``torch.unique``. ``clean`` mode ignores ReLUs on branches that
do not reach the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tenas_automl.indicators._nn import is_constant, live_relus, logits, relu_hooks
from tenas_automl.indicators._repeats import mean_over_repeats
from tenas_automl.indicators.base import DARTS_TINY, Context, Indicator, NetSettings, derive_seed
from tenas_automl.spaces.base import Mask, Space, Supernet


def activation_codes(model: nn.Module, x: torch.Tensor, live: set[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary codes ``(B, bits)`` (bool): output > 0 of every ``nn.ReLU`` with a 4-D input.

    ``live`` restricts the ReLUs to those ids. Returns the codes and the logits.
    """
    parts: list[torch.Tensor] = []

    def record(mod: nn.Module, inp: torch.Tensor, _out: torch.Tensor) -> None:
        if inp.dim() == 4 and (live is None or id(mod) in live):
            parts.append((inp > 0).reshape(inp.shape[0], -1))

    # nn.ReLU modules only, as TE-NAS's counter: not the ReLU-conv-BN ops around them.
    with torch.no_grad(), relu_hooks(model, record, "instance"):
        out = logits(model, x)
    codes = torch.cat(parts, 1) if parts else torch.zeros(x.shape[0], 0, dtype=torch.bool, device=x.device)
    return codes, out


def pack_codes(codes: torch.Tensor) -> torch.Tensor:
    """Pack bool codes ``(N, bits)`` into ``uint8`` ``(N, ceil(bits/8))``; equal codes stay equal."""
    n, bits = codes.shape
    pad = (-bits) % 8
    if pad:
        codes = torch.cat([codes, codes.new_zeros(n, pad)], 1)
    weights = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8, device=codes.device)
    return (codes.view(n, -1, 8).to(torch.uint8) * weights).sum(-1, dtype=torch.uint8)


def count_distinct(codes: torch.Tensor) -> int:
    """Number of distinct rows of a bool code matrix (sort-based, no N x N matrix)."""
    if codes.shape[0] == 0:
        return 0
    if codes.shape[1] == 0:
        return 1
    return int(torch.unique(pack_codes(codes), dim=0).shape[0])


@dataclass(frozen=True)
class OneCellSettings(NetSettings):
    """TE-NAS's thin scoring network: one cell in one stage, no stem (``lr``, ``swap``)."""

    cells: int = 1
    stages: int = 1
    stem: bool = False


@dataclass(frozen=True)
class LinearRegionsSettings(OneCellSettings):
    """Linear-region settings; defaults are TE-NAS's (``input_size`` = crop size; 1 channel in and out)."""

    width: int = 1
    in_channels: int = 1
    batch_size: int = 1000
    batches: int = 3
    input_size: int | None = 3
    repeats: int = 3


class LinearRegions(Indicator):
    """Number of linear regions (distinct ReLU patterns) on image crops (TE-NAS); higher is better."""

    name = "lr"
    version = 2
    higher_is_better = True
    cost = "low"
    settings_class = LinearRegionsSettings
    space_defaults = {"darts": dict(DARTS_TINY)}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, LinearRegionsSettings)
        clean = self.resolved_mode(ctx) == "clean"
        size = s.input_size or 3

        def crops(di: int) -> tuple[torch.Tensor, ...]:
            x = ctx.crops(s.batch_size * s.batches, size=size, index=di)
            if s.in_channels != 1:
                x = x.expand(-1, s.in_channels, -1, -1)
            return x.split(s.batch_size)

        def score(net: Supernet, batches: tuple[torch.Tensor, ...]) -> float:
            live = live_relus(net, batches[0], seed=derive_seed(ctx.seed, "live")) if clean else None
            codes, outs = zip(*(activation_codes(net, b, live) for b in batches))
            if is_constant(torch.cat(outs)):
                return math.nan  # no path input -> output
            return count_distinct(torch.cat(codes))

        return mean_over_repeats(s, masks, ctx, crops, score)
