"""``vkdnw``: the spectrum of the network's Fisher information (VKDNW, Tybl and Neumann, CVPR 2025).

Take ``p`` evenly spaced scalars of each of the first ``tensors`` parameter
tensors of the network that runs (dead ops excluded), the per-sample Jacobian
``J`` of the logits with respect to them, and the softmax probabilities
smoothed as ``(1 - a) softmax + a / K`` (``a = 0.05``). The Fisher matrix is the
batch mean of ``J^T C J`` with ``C`` the probabilities' covariance. The
score's entropy part is ``H = -sum t log t`` over the nine deciles of the
Fisher eigenvalues, normalised to sum to 1 (``t``): high when the spectrum
is spread evenly. VKDNW ranks architectures by (number of parameter tensors,
``H``) lexicographically; ``vkdnw`` returns that order as one number,
``tensors + H / 10`` (``H <= log 9 < 10``). Higher is better.

Paper settings, as the official NB201 code (ondratybl/VKDNW): the full network
(16 channels, 5 cells per stage), Kaiming-normal fan-in weights, BatchNorm in
eval mode, one batch of 64 ``randn`` images, the first 128 parameter tensors.
Eval mode reads the BatchNorm running statistics of a freshly built network
(mean 0, variance 1), as the official code does: whatever train-mode passes of
other indicators on the same network left there is set aside while VKDNW runs.
The official driver's default ``p = 0`` selects no scalar at all (an empty
Jacobian), so it is refused; ``p = 1`` (each tensor's first scalar), which the
official figures need, is the default. The official code multiplies ``J`` by
the Cholesky factor ``L`` of ``C`` from the left, so its matrix is the mean of
``J^T L^T L J`` rather than of ``J^T L L^T J = J^T C J``; ``paper`` mode does
the same (and smooths with ``a`` rounded to float16, 0.0499878), ``clean``
mode uses ``C`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev, vmap

from tenas_automl.errors import TenasError
from tenas_automl.indicators._nn import resolve_layout, running_parameters, to_layout
from tenas_automl.indicators.az_nas import initialised_network, random_images
from tenas_automl.indicators.base import Context, Indicator, NetSettings, repeat_indices
from tenas_automl.spaces.base import Mask, Space

#: Smoothing of the softmax; the official code holds it in float16.
ALPHA = 0.05
ALPHA_F16 = float(torch.tensor(ALPHA, dtype=torch.float16))
DECILES = tuple(k / 10 for k in range(1, 10))
_EPS = 1e-10


@dataclass(frozen=True)
class VkdnwSettings(NetSettings):
    """VKDNW settings: ``tensors`` parameter tensors, ``p`` scalars of each."""

    width: int = 16
    cells: int = 5
    batch_size: int = 64
    repeats: int = 1
    tensors: int = 128
    p: int = 1
    init: str = "kaiming_normal_fan_in"
    #: Memory format of the batch; ``auto``: channels-last on CPU (the per-logit
    #: backward passes run about twice as fast), contiguous on CUDA.
    layout: str = "auto"

    def validate(self) -> None:
        super().validate()
        for key in ("tensors", "p"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                extra = " (p = 0, the official driver's default, selects no scalar: an empty Fisher matrix)"
                raise TenasError(f"setting {key}={value!r} must be a positive integer" + (extra if key == "p" else ""))


def _picks(params: Sequence[tuple[str, nn.Parameter]], p: int) -> list[torch.Tensor]:
    return [torch.linspace(0, v.numel() - 1, steps=p).long().to(v.device) for _, v in params]


def logit_jacobian_func(model: nn.Module, x: torch.Tensor, params: Sequence[tuple[str, nn.Parameter]], p: int) -> torch.Tensor:
    """Per-sample Jacobian ``(B, K, P)`` of the logits w.r.t. ``p`` evenly spaced scalars of
    each param, by ``torch.func`` (any module; the reference for :func:`logit_jacobian`)."""
    picks = _picks(params, p)
    flats = [v.detach().flatten() for _, v in params]
    names = [n for n, _ in params]
    shapes = [v.shape for _, v in params]

    def logits_of(values: tuple[torch.Tensor, ...], sample: torch.Tensor) -> torch.Tensor:
        replaced = {
            name: flat.index_put((idx,), val).reshape(shape)
            for name, flat, idx, val, shape in zip(names, flats, picks, values, shapes)
        }
        return functional_call(model, replaced, (sample[None],))[0]

    values = tuple(flat[idx] for flat, idx in zip(flats, picks))
    jac = vmap(jacrev(logits_of), in_dims=(None, 0))(values, x)
    return torch.cat([j.reshape(j.shape[0], j.shape[1], -1) for j in jac], dim=2)


def _scalar_gradients(module: nn.Module, name: str, idx: torch.Tensor, inp: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-sample derivative ``(B, len(idx))`` of a scalar objective w.r.t. entries ``idx`` of
    ``module``'s parameter ``name``, from the module's input and the objective's gradient
    ``g`` at its output (samples independent: eval-mode BatchNorm)."""
    param = getattr(module, name)
    cols = []
    for flat in idx.tolist():
        at = np.unravel_index(flat, tuple(param.shape))
        if isinstance(module, nn.Conv2d) and name == "bias":
            col = g[:, int(at[0])].sum((1, 2))
        elif isinstance(module, nn.Conv2d):
            o, i, u, v = (int(a) for a in at)
            per_group_in = module.in_channels // module.groups
            c = (o // (module.out_channels // module.groups)) * per_group_in + i
            ph, pw = module.padding  # type: ignore[misc]
            sh, sw = module.stride
            dh, dw = module.dilation
            xp = F.pad(inp[:, c], (pw, pw, ph, ph))
            h, w = g.shape[2], g.shape[3]
            window = xp[:, u * dh : u * dh + sh * (h - 1) + 1 : sh, v * dw : v * dw + sw * (w - 1) + 1 : sw]
            col = (g[:, o] * window).sum((1, 2))
        elif isinstance(module, nn.BatchNorm2d):
            (ch,) = (int(a) for a in at)
            if name == "bias":
                col = g[:, ch].sum((1, 2))
            else:
                xhat = (inp[:, ch] - module.running_mean[ch]) / torch.sqrt(module.running_var[ch] + module.eps)
                col = (g[:, ch] * xhat).sum((1, 2))
        else:  # nn.Linear
            if name == "weight":
                o, i = (int(a) for a in at)
                col = g[:, o] * inp[:, i]
            else:
                col = g[:, int(at[0])]
        cols.append(col)
    return torch.stack(cols, dim=1)


_FAST = (nn.Conv2d, nn.Linear)


def _fast_path_applies(model: nn.Module, params: Sequence[tuple[str, nn.Parameter]]) -> bool:
    owners = dict(model.named_modules())
    for full, _ in params:
        mod = owners[full.rpartition(".")[0]]
        bn_eval = isinstance(mod, nn.BatchNorm2d) and not mod.training and mod.track_running_stats
        if not (isinstance(mod, _FAST) or bn_eval):
            return False
        if isinstance(mod, nn.Conv2d) and (mod.padding_mode != "zeros" or isinstance(mod.padding, str)):
            return False
    return True


def logit_jacobian(model: nn.Module, x: torch.Tensor, params: Sequence[tuple[str, nn.Parameter]], p: int) -> torch.Tensor:
    """Per-sample Jacobian ``(B, K, P)`` of the logits w.r.t. ``p`` evenly spaced scalars of each param.

    For conv, linear and eval-mode BatchNorm parameters: one forward pass that
    keeps each owner module's input and output, one backward pass per logit to
    those outputs, and each scalar's derivative from them in closed form
    (equal to :func:`logit_jacobian_func` up to float summation order, at a
    fraction of its cost). Other modules use :func:`logit_jacobian_func`.
    """
    if not _fast_path_applies(model, params):
        return logit_jacobian_func(model, x, params, p)
    owners = dict(model.named_modules())
    picks = _picks(params, p)
    slots = [(owners[full.rpartition(".")[0]], full.rpartition(".")[2]) for full, _ in params]
    mods = list(dict.fromkeys(m for m, _ in slots))
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if id(mod) in seen:
            raise TenasError("vkdnw: a parameter's module runs twice in one forward pass")
        seen[id(mod)] = (inp[0].detach(), out)

    handles = [m.register_forward_hook(keep) for m in mods]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    outs = [seen[id(m)][1] for m in mods]
    cols = []
    for k in range(out.shape[1]):
        grads = torch.autograd.grad(out[:, k].sum(), outs, retain_graph=True, allow_unused=True)
        by_mod = {id(m): (torch.zeros_like(o) if g is None else g) for m, o, g in zip(mods, outs, grads)}
        cols.append(
            torch.cat(
                [_scalar_gradients(m, name, idx, seen[id(m)][0], by_mod[id(m)]) for (m, name), idx in zip(slots, picks)], dim=1
            )
        )
    return torch.stack(cols, dim=1).detach()


def smoothed_probabilities(logits: torch.Tensor, alpha: float) -> torch.Tensor:
    return torch.softmax(logits, dim=1) * (1 - alpha) + alpha / logits.shape[1]


def covariance_cholesky(prob: torch.Tensor) -> torch.Tensor:
    """Lower-triangular ``L`` (B, K, K) with ``L L^T = diag(p) - p p^T``, in closed form.

    With ``q_k = 1 - p_1 - ... - p_k``: ``L_kk = d_k``, ``L_ik = -p_i d_k / q_k``
    below the diagonal, ``d_k = sqrt(p_k q_k / q_{k-1})`` (``q_0 = 1``; the last
    column is 0, the covariance having rank K - 1).
    """
    q = 1 - torch.cumsum(prob, dim=1)
    q[:, -1] = 0.0
    q_prev = torch.cat([torch.ones_like(q[:, :1]), q[:, :-1]], dim=1)
    d = torch.sqrt(prob * q / q_prev)
    k = prob.shape[1]
    below = torch.tril(torch.ones(k, k, dtype=torch.bool, device=prob.device), diagonal=-1)
    ratio = torch.nan_to_num(-prob[:, :, None] / q[:, None, :], neginf=0.0, posinf=0.0, nan=0.0)
    eye = torch.eye(k, dtype=prob.dtype, device=prob.device)
    unit = torch.where(below, ratio, eye.expand_as(ratio))
    return unit * d[:, None, :]


def fisher_matrix(jac: torch.Tensor, logits: torch.Tensor, clean: bool) -> torch.Tensor:
    """Batch mean of ``J^T C J`` (clean) or of the official ``J^T L^T L J`` (paper)."""
    if clean:
        prob = smoothed_probabilities(logits.double(), ALPHA)
        cov = torch.diag_embed(prob) - prob[:, :, None] * prob[:, None, :]
        j = jac.double()
        return (j.transpose(1, 2) @ cov @ j).mean(0)
    lj = covariance_cholesky(smoothed_probabilities(logits, ALPHA_F16)) @ jac
    return (lj.transpose(1, 2) @ lj).mean(0)


def decile_entropy(eigenvalues: torch.Tensor) -> float:
    """Entropy of the nine deciles of ``eigenvalues``, normalised to sum to 1."""
    q = torch.quantile(eigenvalues.double(), torch.tensor(DECILES, dtype=torch.float64, device=eigenvalues.device))
    t = q / (q.abs().sum() + _EPS)
    return float(-(t * torch.log(t + _EPS)).sum())


def vkdnw_score(model: nn.Module, x: torch.Tensor, tensors: int, p: int, clean: bool) -> tuple[int, float]:
    """(number of parameter tensors that run, decile entropy of the Fisher spectrum)."""
    was_training = model.training
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]  # type: ignore[union-attr]
    for m in norms:
        m.reset_running_stats()
    try:
        params = running_parameters(model, x)
        jac = logit_jacobian(model, x, params[:tensors], p)
        with torch.no_grad():
            logits = model(x)
        fisher = fisher_matrix(jac.detach(), logits, clean)
        if clean:
            lam = torch.linalg.eigvalsh(fisher).clamp(min=0.0)
        else:
            try:
                lam = torch.linalg.svdvals(fisher)
            except RuntimeError:  # the official code scores a failed decomposition as zeros
                lam = torch.zeros(2)
        return len(params), decile_entropy(lam)
    finally:
        model.train(was_training)
        with torch.no_grad():
            for m, (mean, var, count) in zip(norms, saved):
                m.running_mean.copy_(mean)  # type: ignore[union-attr]
                m.running_var.copy_(var)  # type: ignore[union-attr]
                m.num_batches_tracked.copy_(count)  # type: ignore[union-attr]


def vkdnw_value(count: int, entropy: float) -> float:
    """VKDNW's single number: parameter tensors + entropy / 10 (NaN when the entropy is not finite)."""
    return count + entropy / 10 if math.isfinite(entropy) else math.nan


class Vkdnw(Indicator):
    """VKDNW: (parameter tensors, entropy of the Fisher spectrum's deciles) as tensors + H/10 (CVPR 2025); higher is better."""

    name = "vkdnw"
    higher_is_better = True
    cost = "medium"
    settings_class = VkdnwSettings
    #: 2: eval mode reads a fresh network's BatchNorm statistics, not those other indicators left.
    version = 2
    #: DARTS: the DARTS search network's size (16 channels, 8 cells); no paper setting.
    space_defaults = {"darts": {"layers": 8}}

    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        s = self.effective_settings(space, ctx.data)
        assert isinstance(s, VkdnwSettings)
        clean = self.resolved_mode(ctx) == "clean"
        values = np.full((s.repeats, len(masks)), np.nan)
        for r in range(s.repeats):
            wi, di = repeat_indices(s, r)
            net = initialised_network(ctx, s, s.init, wi)
            x = to_layout(random_images(ctx, s, di), resolve_layout(s.layout, ctx.device))
            for k, mask in enumerate(masks):
                net.set_mask(mask)
                count, entropy = vkdnw_score(net, x, s.tensors, s.p, clean)
                values[r, k] = vkdnw_value(count, entropy)
        return values.mean(0)
