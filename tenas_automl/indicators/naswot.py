"""``naswot``: log-determinant of the activation-overlap kernel (NASWOT); higher is better.

For every ReLU, a sample's binary code is ``c = 1[x > 0]`` over the ReLU's
input units; K = sum over ReLUs of ``c c^T + (1 - c)(1 - c)^T``, i.e.
``K_ij`` is the number of units on which samples i and j agree. The score is
``log|det K|``. "ReLUs" are what the official hooks select: every module
whose type contains "ReLU", so each ReLU-conv-BN op adds its input codes
once more beside its inner ``nn.ReLU`` (version 2; version 1 read the op's
BatchNorm output there instead).

Paper settings: the full NB201 network (16 channels, 5 cells per stage, one
output class, PyTorch default init, train mode), 128 training images without
augmentation, one forward pass. On CPU the batch is fed in channels-last
layout (``layout="auto"``): oneDNN's convolutions and pooling then run about
twice as fast, and K moves at float-noise level (a unit whose input is within
float rounding of 0 can flip; log|det K| moved by at most 3.4e-4 on 20 cells).
``layout="contiguous"`` gives version 2's values exactly. ``clean`` mode
leaves out ReLUs on branches that do not reach the output. A mask without a
path from input to output scores NaN (the official code gives -inf or an
ordinary-looking value).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tenas_automl.indicators._backward import is_channels_last
from tenas_automl.indicators._nn import is_constant, live_relus, logits, relu_hooks, resolve_layout, to_layout
from tenas_automl.indicators._repeats import mean_over_repeats
from tenas_automl.indicators.base import Context, Indicator, NetSettings, derive_seed
from tenas_automl.spaces.base import Mask, Space, Supernet

#: Integers up to 2**24 are exact in float32, so a float32 Gram matrix of 0/1
#: codes is exact while a sample has at most this many units.
_EXACT_F32 = 2**24


def agreement_kernel(codes: torch.Tensor) -> torch.Tensor:
    """K_ij = number of positions where binary rows i and j agree (float64, exact).

    Uses one Gram matrix: with G = c c^T and row sums r,
    (1 - c)(1 - c)^T = d - r_i - r_j + G, so K = 2G - r_i - r_j + d.
    """
    n, d = codes.shape
    dtype = torch.float32 if d <= _EXACT_F32 else torch.float64
    c = codes.to(dtype)
    gram = (c @ c.T).to(torch.float64)
    r = c.sum(1).to(torch.float64)
    return 2 * gram - r[:, None] - r[None, :] + d


def log_abs_det(kernel: torch.Tensor) -> float:
    """``log|det K|`` via slogdet in float64 (-inf for a singular K)."""
    _sign, logabs = torch.linalg.slogdet(kernel.to(torch.float64).cpu())
    return float(logabs)


def _flat(codes: torch.Tensor) -> torch.Tensor:
    """``codes`` as one row per sample, without a copy where the layout allows.

    K does not depend on the order of the units, so a channels-last batch is
    read in its own (N, H, W, C) order.
    """
    if is_channels_last(codes):
        codes = codes.permute(0, 2, 3, 1)
    return codes.reshape(codes.shape[0], -1)


def naswot_kernel(model: nn.Module, x: torch.Tensor, live: set[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """K accumulated over every ReLU (or the ``live`` ones) in one no-grad forward; and the output.

    Several hooked modules read the same tensor (an op and its inner ReLU; the
    ops on the edges leaving a node), so each tensor's kernel is computed once
    and added once per reader: the same sums in the same order, 2-3x fewer
    Gram matrices. A tensor is the same one only while its in-place version
    counter has not moved.
    """
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    # (input, its version, its kernel); weak, so that no activation outlives its readers.
    seen: list[tuple[weakref.ref[torch.Tensor], int, torch.Tensor]] = []

    def add(mod: nn.Module, inp: torch.Tensor, _out: torch.Tensor) -> None:
        nonlocal kernel
        if live is not None and id(mod) not in live:
            return
        k = next((kk for t, v, kk in seen if t() is inp and v == inp._version), None)
        if k is None:
            k = agreement_kernel(_flat(inp > 0))
            seen.append((weakref.ref(inp), inp._version, k))
        kernel = kernel + k

    # Every module whose type names "ReLU", as NASWOT's hooks: a ReLU-conv-BN op
    # adds its ReLU's input codes a second time.
    with torch.no_grad(), relu_hooks(model, add, "name"):
        out = logits(model, x)
    return kernel, out


@dataclass(frozen=True)
class NaswotSettings(NetSettings):
    """NASWOT settings; defaults are the official NB201 ones."""

    width: int = 16
    cells: int = 5
    num_classes: int | None = 1
    batch_size: int = 128
    repeats: int = 1
    augment: bool = False
    #: Memory format of the batch: ``channels_last`` or ``contiguous``;
    #: ``auto`` is channels-last on CPU (2x faster there), contiguous on CUDA.
    layout: str = "auto"


class Naswot(Indicator):
    """Log-determinant of the ReLU activation-overlap kernel (NASWOT); higher is better."""

    name = "naswot"
    #: 2: codes of ReLU inputs as the official hooks; 3: channels-last batches on CPU.
    version = 3
    higher_is_better = True
    cost = "low"
    settings_class = NaswotSettings
    #: DARTS: the DARTS search network's size (16 channels, 8 cells); no paper setting.
    space_defaults = {"darts": {"layers": 8}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, NaswotSettings)
        clean = self.resolved_mode(ctx) == "clean"
        layout = resolve_layout(s.layout, ctx.device)

        def batch(di: int) -> torch.Tensor:
            x = ctx.images(s.batch_size, index=di, augment=s.augment, input_size=s.input_size)[0]
            return to_layout(x, layout)

        def score(net: Supernet, x: torch.Tensor) -> float:
            live = live_relus(net, x, seed=derive_seed(ctx.seed, "live"), rule="name") if clean else None
            kernel, out = naswot_kernel(net, x, live)
            return math.nan if is_constant(out) else log_abs_det(kernel)  # -inf for a singular K

        return mean_over_repeats(s, masks, ctx, batch, score)
