"""The DARTS candidate operations and their building blocks.

Structure and module names follow DARTS (quark0/darts ``cnn/operations.py``),
so state dicts of the evaluation network line up with DARTS code. Two
deliberate differences, both from TE-NAS's copy of these ops:

* :class:`FactorizedReduce` pads the shifted branch by one pixel on the right
  and bottom, so odd feature maps (the 3x3 linear-region inputs) work; on even
  maps the result is identical to DARTS's.
* every BatchNorm takes ``track_running_stats`` so the supernet can follow the
  TE-NAS setting, and pools optionally carry DARTS-search's ``BN(affine=False)``.

ReLUs are ``nn.ReLU(inplace=False)`` modules everywhere: training-free
indicators hook them and read their inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tenas_automl.errors import UnknownNameError
from tenas_automl.spaces._common_ops import Identity, ReLUConvBN, SequentialOp
from tenas_automl.spaces._common_ops import bn as _bn
from tenas_automl.spaces.darts.genotypes import OPS


def _sep_block(
    C_in: int,
    C_out: int,
    kernel_size: int,
    stride: int,
    padding: int,
    dilation: int,
    affine: bool,
    track_running_stats: bool,
) -> list[nn.Module]:
    """ReLU, (dilated) depthwise conv, pointwise conv, BN: DilConv, and each half of SepConv."""
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation,
                  groups=C_in, bias=False),
        nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
        _bn(C_out, affine, track_running_stats),
    ]  # fmt: skip


class DilConv(SequentialOp):
    """ReLU, dilated depthwise conv, pointwise conv, BN."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(*_sep_block(C_in, C_out, kernel_size, stride, padding, dilation, affine, track_running_stats))


class SepConv(SequentialOp):
    """Two stacked (ReLU, depthwise conv, pointwise conv, BN) blocks; only the first strides."""

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
        # One flat Sequential (op.0 .. op.7), as DARTS names the modules.
        self.op = nn.Sequential(
            *_sep_block(C_in, C_in, kernel_size, stride, padding, 1, affine, track_running_stats),
            *_sep_block(C_in, C_out, kernel_size, 1, padding, 1, affine, track_running_stats),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs, one shifted by a pixel."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        if C_out < 2:
            raise ValueError(f"FactorizedReduce needs at least 2 output channels, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = _bn(C_out, affine, track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Padding keeps both branches the same size on odd maps; on even maps
        # the padded pixel is never sampled by the stride-2 conv.
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Pool(SequentialOp):
    """3x3 average or max pooling, optionally followed by a non-affine BN (DARTS search)."""

    def __init__(self, kind: str, C: int, stride: int, bn: bool = False, track_running_stats: bool = True) -> None:
        super().__init__()
        pool: nn.Module
        if kind == "avg":
            pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif kind == "max":
            pool = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ValueError(f"unknown pool kind {kind!r}; allowed: avg, max")
        self.op = nn.Sequential(pool, _bn(C, False, track_running_stats)) if bn else pool


class Zero(nn.Module):
    """``none``: zeros of the output shape (strided like the other ops)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(
    name: str,
    C: int,
    stride: int,
    *,
    affine: bool = True,
    track_running_stats: bool = True,
    pool_bn: bool = False,
) -> nn.Module:
    """Instantiate the DARTS op ``name`` on ``C`` channels with ``stride`` (1 or 2)."""
    bn = {"affine": affine, "track_running_stats": track_running_stats}
    if name == "none":
        return Zero(stride)
    if name == "avg_pool_3x3":
        return Pool("avg", C, stride, bn=pool_bn, track_running_stats=track_running_stats)
    if name == "max_pool_3x3":
        return Pool("max", C, stride, bn=pool_bn, track_running_stats=track_running_stats)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(C, C, **bn)
    if name == "sep_conv_3x3":
        return SepConv(C, C, 3, stride, 1, **bn)
    if name == "sep_conv_5x5":
        return SepConv(C, C, 5, stride, 2, **bn)
    if name == "dil_conv_3x3":
        return DilConv(C, C, 3, stride, 2, 2, **bn)
    if name == "dil_conv_5x5":
        return DilConv(C, C, 5, stride, 4, 2, **bn)
    raise UnknownNameError("op", name, OPS)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (DARTS)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


__all__ = [
    "DilConv",
    "FactorizedReduce",
    "Identity",
    "Pool",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "drop_path",
    "make_op",
]
