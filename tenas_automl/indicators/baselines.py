"""Baselines: size counts and the zero-cost proxies of Abdelfattah et al. (2021).

All are scored on the full-size NB201 network (16 channels, 5 cells per stage,
the dataset's classes; PyTorch default init, train mode) masked to the
candidate, on one batch of 64 training images without augmentation, following
the zero-cost-proxies code (mohsaied/zero-cost-nas). Every one is "higher is
better", as in that paper.

- ``params``: parameters of the modules that run for the mask (dead ops are
  not counted), i.e. the size of ``space.build(arch)``.
- ``flops``: multiply-accumulates of the convolutions and linear layers for one
  image at the data's resolution, counted with forward hooks (BatchNorm,
  pooling and additions are not counted). Raw counts, not millions.
- ``synflow``: BatchNorm bypassed, weights replaced by their absolute values,
  float64, an all-ones input of one image; score = sum |w * dR/dw| over conv
  and linear weights, with R the sum of the outputs.
- ``snip``: sum |w * dL/dw| over conv and linear weights, L the cross-entropy.
- ``grad_norm``: sum over conv and linear layers of ||dL/dw||_2.
- ``jacov``: input Jacobian of the summed outputs; with Sigma its per-sample
  correlation matrix and v its eigenvalues, -sum(log(v + k) + 1/(v + k)),
  k = 1e-5. AZ-NAS's and VKDNW's ports compute the same formula on one real
  batch of 64 in train mode, on Kaiming-normal fan-in weights instead of
  PyTorch's default ones (``init="kaiming_normal_fan_in"`` here).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tenas_automl.indicators._nn import is_constant, logits, resolve_layout, to_layout
from tenas_automl.indicators._repeats import mean_over_repeats
from tenas_automl.indicators.az_nas import initialised_network
from tenas_automl.indicators.base import Context, Indicator, NetSettings
from tenas_automl.spaces.base import Mask, Space, Supernet

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
JACOV_K = 1e-5


def prunable_layers(model: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear layers: where the zero-cost proxies read weights and gradients."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@dataclass(frozen=True)
class SizeSettings(NetSettings):
    """Network size for ``params`` and ``flops`` (defaults: the full NB201 network;
    DARTS: its evaluation size, 36 channels and 20 cells). Only the network
    fields and ``input_size`` matter."""

    width: int = 16
    cells: int = 5


@dataclass(frozen=True)
class ZeroCostSettings(NetSettings):
    """Zero-cost proxy settings (defaults: :class:`NetSettings`'s full NB201 network, 64 images, one repeat)."""

    #: Memory format of the batch; ``auto``: channels-last on CPU (about 2x
    #: faster there, float-noise differences), contiguous on CUDA.
    layout: str = "auto"
    #: ``default`` (PyTorch's, as the zero-cost-proxies code) or
    #: ``kaiming_normal_fan_in`` (as AZ-NAS's and VKDNW's ports of ``jacov``).
    init: str = "default"


@dataclass(frozen=True)
class SizeCount:
    params: int
    flops: int


def count_size(model: nn.Module, x: torch.Tensor) -> SizeCount:
    """Parameters of the modules that run, and conv/linear MACs per sample, by hooks."""
    ran: dict[int, nn.Module] = {}
    macs = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        ran[id(mod)] = mod
        if isinstance(mod, nn.Conv2d):
            per_out = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            macs += (out[0].numel()) * per_out
        elif isinstance(mod, nn.Linear):
            macs += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    try:
        model.eval()  # one image: running statistics instead of batch ones
        with torch.no_grad():
            logits(model, x[:1])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params = sum(p.numel() for m in ran.values() for p in m.parameters(recurse=False))
    return SizeCount(params=params, flops=macs)


@contextmanager
def batchnorm_bypassed(model: nn.Module) -> Iterator[None]:
    """Make every BatchNorm return its input (synflow is defined without BN)."""
    handles = [m.register_forward_hook(lambda _m, inp, _out: inp[0]) for m in model.modules() if isinstance(m, _BN)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def synflow_network(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` with every parameter replaced by its absolute value (synflow's network)."""
    net = copy.deepcopy(model).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    return net


def synflow_of(net: nn.Module, input_shape: Sequence[int]) -> float:
    """sum |w * dR/dw| of a :func:`synflow_network`, R the summed output for an all-ones input, BN bypassed."""
    weights = [m.weight for m in prunable_layers(net)]
    ones = torch.ones(1, *input_shape, dtype=torch.float64, device=next(net.parameters()).device)
    with batchnorm_bypassed(net):
        out = logits(net, ones)
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    with torch.no_grad():
        return float(sum((w * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


def synflow_score(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Synaptic flow of a copy of ``model`` (the original is untouched)."""
    return synflow_of(synflow_network(model), input_shape)


def loss_gradients(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """(weight, dL/dweight) of the conv/linear layers that take part, for the CE loss; and the logits."""
    weights = [m.weight for m in prunable_layers(model)]
    out = logits(model, x)
    grads = torch.autograd.grad(F.cross_entropy(out, y), weights, allow_unused=True)
    return [(w.detach(), g) for w, g in zip(weights, grads) if g is not None], out.detach()


def snip_score(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """sum |w * g| over (weight, gradient) pairs."""
    return float(sum(float((w * g).abs().sum()) for w, g in pairs))


def grad_norm_score(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """sum of the gradients' Euclidean norms, one per layer."""
    return float(sum(float(g.norm()) for _, g in pairs))


def jacov_score(model: nn.Module, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Jacobian-covariance score and the logits."""
    x = x.detach().clone().requires_grad_(True)
    out = logits(model, x)
    (jac,) = torch.autograd.grad(out.sum(), [x], allow_unused=True)
    if jac is None:  # the output does not depend on the input
        return math.nan, out.detach()
    return jacov_from_jacobian(jac.reshape(jac.shape[0], -1)), out.detach()


def jacov_from_jacobian(jac: torch.Tensor) -> float:
    """-sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the rows' correlation matrix."""
    j = jac.detach().to(torch.float64).cpu()
    corr = torch.corrcoef(j)
    if not bool(torch.isfinite(corr).all()):
        return math.nan
    v = torch.linalg.eigvalsh(corr)
    score = float(-(torch.log(v + JACOV_K) + 1.0 / (v + JACOV_K)).sum())
    return score if math.isfinite(score) else math.nan


class _FullNetIndicator(Indicator):
    """Shared loop: full-size network per repeat, one value per mask."""

    cost = "low"
    settings_class = ZeroCostSettings
    #: DARTS: the DARTS search network's size (16 channels, 8 cells); no paper setting.
    space_defaults = {"darts": {"layers": 8}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, ZeroCostSettings)
        layout = resolve_layout(s.layout, ctx.device)

        def batch(di: int) -> tuple[torch.Tensor, torch.Tensor]:
            x, y = ctx.images(s.batch_size, index=di, augment=s.augment, input_size=s.input_size)
            return to_layout(x, layout), y

        return mean_over_repeats(
            s,
            masks,
            ctx,
            batch,
            lambda net, xy: self._score(net, *xy),
            network=lambda wi: self._network(ctx, s, wi),
        )

    def _network(self, ctx: Context, s: ZeroCostSettings, wi: int) -> Supernet:
        return initialised_network(ctx, s, s.init, wi)

    def _score(self, net: Supernet, x: torch.Tensor, y: torch.Tensor) -> float:
        raise NotImplementedError


class Params(Indicator):
    """Parameters of the full-size network (NB201: C=16, 5 cells/stage; DARTS: C=36, 20 cells); higher is better."""

    name = "params"
    higher_is_better = True
    cost = "free"
    settings_class = SizeSettings
    space_defaults = {"darts": {"width": 36, "layers": 20}}

    def _counts(self, masks: Sequence[Mask], ctx: Context) -> list[SizeCount]:
        s = self.effective_settings(ctx.space, ctx.data)
        assert isinstance(s, SizeSettings)
        net = ctx.network(s)
        x, _ = ctx.images(1, input_size=s.input_size)
        counts = []
        for mask in masks:
            net.set_mask(mask)
            counts.append(count_size(net, x))
        return counts

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        return np.array([c.params for c in self._counts(masks, ctx)], dtype=float)


class Flops(Params):
    """Multiply-accumulates of conv and linear layers per image, full-size network; higher is better."""

    name = "flops"

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        return np.array([c.flops for c in self._counts(masks, ctx)], dtype=float)


class Synflow(_FullNetIndicator):
    """Synaptic flow, sum |w * dR/dw| with |w| and an all-ones input (zero-cost proxies); higher is better."""

    name = "synflow"
    higher_is_better = True

    def _network(self, ctx: Context, s: ZeroCostSettings, wi: int) -> Supernet:
        # The |w| float64 copy is made once per network, not once per mask: masks only switch ops.
        base = initialised_network(ctx, s, s.init, wi)
        return ctx.memo(("synflow-network", id(base)), lambda: synflow_network(base))  # type: ignore[no-any-return]

    def _score(self, net: Supernet, x: torch.Tensor, y: torch.Tensor) -> float:
        return synflow_of(net, x.shape[1:])


class _LossGradientIndicator(_FullNetIndicator):
    """A proxy computed from the loss gradients of the prunable layers (NaN on a constant output)."""

    higher_is_better = True
    #: (weight, gradient) pairs -> score; a staticmethod in each subclass.
    _from_pairs: Callable[[Sequence[tuple[torch.Tensor, torch.Tensor]]], float]

    def _score(self, net: Supernet, x: torch.Tensor, y: torch.Tensor) -> float:
        pairs, out = loss_gradients(net, x, y)
        return math.nan if is_constant(out) else self._from_pairs(pairs)


class Snip(_LossGradientIndicator):
    """SNIP saliency, sum |w * dL/dw| (zero-cost proxies); higher is better."""

    name = "snip"
    #: 2: channels-last batches on CPU.
    version = 2
    _from_pairs = staticmethod(snip_score)


class GradNorm(_LossGradientIndicator):
    """Sum of the layers' loss-gradient norms (zero-cost proxies); higher is better."""

    name = "grad_norm"
    #: 2: channels-last batches on CPU.
    version = 2
    _from_pairs = staticmethod(grad_norm_score)


class Jacov(_FullNetIndicator):
    """Correlation of input Jacobians across a batch (zero-cost proxies); higher is better."""

    name = "jacov"
    higher_is_better = True
    #: 2: channels-last batches on CPU.
    version = 2

    def _score(self, net: Supernet, x: torch.Tensor, y: torch.Tensor) -> float:
        score, out = jacov_score(net, x)
        return math.nan if is_constant(out) else score
