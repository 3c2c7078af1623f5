"""Faster CPU backward passes for the per-sample Jacobian loop, same forward values.

The exact train-mode NTK runs one backward pass per sample through the
whole batch (:func:`~tenas_automl.indicators._nn.per_sample_jacobian`). On
the 3-channel NB201 scoring network two of PyTorch's CPU backward kernels
are slow for so few channels: BatchNorm's in channels-last layout (about
5x its contiguous kernel) and average pooling's (1.5-2 ms for a 72-image
batch, more than the 3x3 convolution's). :func:`fast_backward` swaps, for
the duration of a block, the forward of a model's train-mode
``BatchNorm2d`` and of its NB201/DARTS pools (3x3 stride 1 without padding
counts, 2x2 stride 2) for autograd functions with the same forward kernels
and a cheaper backward:

* BatchNorm: the contiguous kernel (input saved once in contiguous layout,
  gradient converted back to the input's layout);
* pooling: the adjoint written as shifted sums (3x3) or a nearest upsample
  (2x2), a few elementwise ops.

Forward outputs and running statistics are bit-for-bit those of the
modules; gradients agree up to float summation order (the tests compare
them with autograd's). Only first derivatives are supported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def _like(t: torch.Tensor, ref_channels_last: bool) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if ref_channels_last else t.contiguous()


def is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4-D tensor stored channels-last (and not also plain contiguous, as one channel or a 1x1 image can be)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


class _BatchNormTrain(torch.autograd.Function):
    """Train-mode batch norm: the module's forward kernel, the contiguous backward kernel."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        running_mean: torch.Tensor | None,
        running_var: torch.Tensor | None,
        momentum: float,
        eps: float,
    ) -> torch.Tensor:
        out, mean, invstd = torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, True, momentum, eps)
        ctx.save_for_backward(x.contiguous(), weight, mean, invstd)
        ctx.eps, ctx.channels_last = eps, is_channels_last(x)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, mean, invstd = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
            grad.contiguous(), x, weight, None, None, mean, invstd, True, ctx.eps, [need[0], need[1], need[2]]
        )
        return None if gx is None else _like(gx, ctx.channels_last), gw, gb, None, None, None, None


def _batch_norm_forward(m: nn.BatchNorm2d) -> Any:
    original = m.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if not (m.training or m.running_mean is None) or x.dim() != 4:
            return original(x)
        # The momentum bookkeeping of nn.BatchNorm2d.forward, in train mode.
        momentum = 0.0 if m.momentum is None else m.momentum
        if m.training and m.track_running_stats and m.num_batches_tracked is not None:
            m.num_batches_tracked.add_(1)
            if m.momentum is None:
                momentum = 1.0 / float(m.num_batches_tracked)
        # Batch statistics either way; the running ones (None when untracked) are updated.
        return _BatchNormTrain.apply(x, m.weight, m.bias, m.running_mean, m.running_var, momentum, m.eps)

    return forward


def _window_sum3(t: torch.Tensor) -> torch.Tensor:
    """Sum over each 3x3 window (zero padding), by shifted adds."""
    p = F.pad(t, (1, 1, 1, 1))
    rows = p[..., :, :-2] + p[..., :, 1:-1] + p[..., :, 2:]
    return rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]


#: Channels from which the 3x3 pool's contiguous input goes through the channels-last kernel.
_CHANNELS_LAST_POOL = 8


def _avg_pool3x3(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)``, the same values bit for bit.

    On CPU the channels-last kernel is several times faster than the
    contiguous one from 8 channels on (below, the copies to and from that
    layout cost more than they save).
    """
    if x.device.type == "cpu" and x.dim() == 4 and x.shape[1] >= _CHANNELS_LAST_POOL and x.is_contiguous():
        return F.avg_pool2d(x.contiguous(memory_format=torch.channels_last), 3, 1, 1, count_include_pad=False).contiguous()
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _AvgPool3x3(torch.autograd.Function):
    """3x3 average pool, stride 1, padding 1, padding not counted (NB201/DARTS ``avg_pool_3x3``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = _avg_pool3x3(x)
        ones = torch.ones((1, 1, *x.shape[-2:]), dtype=x.dtype, device=x.device)
        ctx.save_for_backward(_window_sum3(ones).reciprocal())
        ctx.channels_last = is_channels_last(x)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        # The windows are symmetric, so the adjoint sums grad/count over the same windows.
        (inv_count,) = ctx.saved_tensors
        return _like(_window_sum3(grad * inv_count), ctx.channels_last)


def _raster_window_sum3(t: torch.Tensor) -> torch.Tensor:
    """Sum over each 3x3 window (zero padding), adding the nine shifted copies in raster order:
    the order in which PyTorch's contiguous CPU ``avg_pool2d_backward`` accumulates each input's
    gradient, so the result equals that kernel's bit for bit."""
    h, w = t.shape[-2:]
    p = F.pad(t, (1, 1, 1, 1))
    out = p[..., 0:h, 0:w] + p[..., 0:h, 1 : w + 1]
    for a, b in ((0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)):
        out += p[..., a : a + h, b : b + w]
    return out


class _AvgPool3x3Exact(torch.autograd.Function):
    """The 3x3 pool with faster CPU kernels whose values and gradients are bit for bit those of
    ``nn.AvgPool2d`` (forward: :func:`_avg_pool3x3`; backward: each output's gradient divided by
    its window's count, then :func:`_raster_window_sum3`, as the contiguous kernel does)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ones = torch.ones((1, 1, *x.shape[-2:]), dtype=x.dtype, device=x.device)
        ctx.save_for_backward(x if is_channels_last(x) or x.device.type != "cpu" else None, _window_sum3(ones))
        return _avg_pool3x3(x)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        x, count = ctx.saved_tensors
        if x is not None:  # not a contiguous CPU tensor: the kernel itself
            grad = grad.contiguous(memory_format=torch.channels_last) if is_channels_last(x) else grad.contiguous()
            return torch.ops.aten.avg_pool2d_backward(grad, x, [3, 3], [1, 1], [1, 1], False, False, None)
        return _raster_window_sum3(grad.contiguous() / count)


class _AvgPool2x2(torch.autograd.Function):
    """2x2 average pool, stride 2, no padding (the NB201 residual shortcut)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.shape, ctx.channels_last = x.shape, is_channels_last(x)
        return F.avg_pool2d(x, 2, stride=2)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        h, w = ctx.shape[-2:]
        g = (grad * 0.25).repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
        if g.shape[-2:] != (h, w):  # odd sizes: the last row/column is not pooled
            g = F.pad(g, (0, w - g.shape[-1], 0, h - g.shape[-2]))
        return _like(g, ctx.channels_last)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def _pool_function(m: nn.AvgPool2d) -> type[torch.autograd.Function] | None:
    if m.ceil_mode or m.divisor_override is not None:
        return None
    k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
    if k == (3, 3) and s == (1, 1) and p == (1, 1) and not m.count_include_pad:
        return _AvgPool3x3
    if k == (2, 2) and s == (2, 2) and p == (0, 0):
        return _AvgPool2x2
    return None


def _is_pool3x3(m: nn.Module) -> bool:
    return isinstance(m, nn.AvgPool2d) and _pool_function(m) is _AvgPool3x3


@contextmanager
def _switched(model: nn.Module, forward_of: Any) -> Iterator[int]:
    """Within the block, each module ``m`` of ``model`` with ``forward_of(m)`` not None runs that forward."""
    switched: list[nn.Module] = []
    for m in model.modules():
        if "forward" in m.__dict__:
            continue  # already switched (nested use) or patched by someone else
        forward = forward_of(m)
        if forward is None:
            continue
        m.forward = forward  # type: ignore[method-assign]
        switched.append(m)
    try:
        yield len(switched)
    finally:
        for m in switched:
            del m.forward


def _fast_forward_of(m: nn.Module) -> Any:
    if isinstance(m, nn.BatchNorm2d):
        return _batch_norm_forward(m)
    if isinstance(m, nn.AvgPool2d) and (fn := _pool_function(m)) is not None:
        return fn.apply
    return None


def fast_backward(model: nn.Module) -> Any:
    """Within the block, ``model``'s BatchNorm2d and supported pools use the faster backward.

    Yields the number of modules switched; everything is restored on exit.
    Meant for the per-sample Jacobian loop on CPU; forward values are
    unchanged, gradients equal up to float summation order.
    """
    return _switched(model, _fast_forward_of)


def fast_pools(model: nn.Module) -> Any:
    """Within the block, ``model``'s 3x3 average pools (stride 1, padding not counted) run the
    faster CPU forward; forward values and gradients are bit for bit unchanged."""
    return _switched(model, lambda m: _AvgPool3x3Exact.apply if _is_pool3x3(m) else None)
