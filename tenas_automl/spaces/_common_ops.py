"""Building blocks shared by the NB201 and DARTS networks.

Both spaces use the same ``ReLU -> Conv -> BN`` op and the same identity, with
the same module names (``op.0``, ``op.1``, ...) as their reference code, so one
definition serves both and state dicts still line up with NB201's and DARTS's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tenas_automl.errors import InvalidArchitectureError
from tenas_automl.spaces.base import Mask


def bn(C: int, affine: bool, track_running_stats: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=affine, track_running_stats=track_running_stats)


class SequentialOp(nn.Module):
    """An op whose whole computation is the module ``self.op`` (the reference layout)."""

    op: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ReLUConvBN(SequentialOp):
    """ReLU -> Conv2d (no bias) -> BatchNorm: NB201's parametric cell op, DARTS's cell preprocessing."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            bn(C_out, affine, track_running_stats),
        )


class Identity(nn.Module):
    """``skip_connect`` where channels and resolution do not change (stride 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def check_built(keys: Sequence[str], mask: Mask, built_mask: Mask, message: str, nothing: str) -> None:
    """Raise if ``mask`` uses an op that ``built_mask`` lacks on the same edge.

    ``message`` is formatted with ``key``, ``missing`` and ``built`` (``nothing``
    when the edge was built empty), so each space keeps its own wording.
    """
    for key, ops, built in zip(keys, mask, built_mask):
        missing = [op for op in ops if op not in built]
        if missing:
            raise InvalidArchitectureError(message.format(key=key, missing=", ".join(missing), built=", ".join(built) or nothing))
