"""Torch helpers shared by the indicators: logits, Jacobians, ReLU hooks."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from tenas_automl.errors import check_choice
from tenas_automl.indicators._backward import fast_backward

#: ``callback(module, input, output)`` of a ReLU hook; the code is ``input > 0``.
ReluCallback = Callable[[nn.Module, torch.Tensor, torch.Tensor], None]

#: Which modules are "ReLUs". ``"instance"``: ``nn.ReLU`` modules, as TE-NAS's
#: linear-region counter finds them. ``"name"``: every module whose type
#: contains "ReLU", as NASWOT's hooks find them; that also catches containers
#: such as ``ReLUConvBN``, whose *input* codes (its inner ReLU's) then count
#: twice in NASWOT's kernel.
RELU_RULES = ("instance", "name")


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's output, taking the logits from a ``(features, logits)`` pair or a dict
    (its ``"logits"`` entry, else its last)."""
    out = model(x)
    if isinstance(out, dict):
        out = out["logits"] if "logits" in out else list(out.values())[-1]
    if isinstance(out, (tuple, list)):
        out = out[-1]
    return out.reshape(out.shape[0], -1)


def reinitialised_copy(model: nn.Module, init: Callable[[nn.Module], None], seed: int) -> nn.Module:
    """A deep copy of ``model`` re-initialised by ``init`` under torch seed ``seed`` (global RNG untouched), in train mode."""
    net = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init(net)
    return net.train()


def weight_parameters(model: nn.Module, allowed: set[int] | None = None) -> list[nn.Parameter]:
    """Parameters whose name contains ``"weight"`` (as the official NTK code selects them).

    ``allowed`` restricts them to parameters whose ``id`` is in the set.
    """
    return [
        p
        for name, p in model.named_parameters()
        if "weight" in name and p.requires_grad and (allowed is None or id(p) in allowed)
    ]


def _flatten(grads: Sequence[torch.Tensor | None], batch: int) -> torch.Tensor:
    parts = [g.reshape(batch, -1) for g in grads if g is not None]
    if not parts:
        return torch.zeros(batch, 0)
    return torch.cat(parts, 1)


def batch_jacobian(model: nn.Module, x: torch.Tensor, params: Sequence[nn.Parameter]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``J_i = d(sum_c f_c(x_i; batch)) / d params`` for every sample, and the logits.

    One forward of the whole batch, then all ``B`` vector-Jacobian products at
    once (``is_grads_batched``). In train mode BatchNorm couples the samples,
    so this is the gradient through the *batch* statistics, exactly what the
    official per-sample backward loop computes (:func:`per_sample_jacobian`).
    Parameters the masked network does not use are left out (no column).
    """
    out = logits(model, x)
    b = out.shape[0]
    if not params:
        return torch.zeros(b, 0, device=x.device), out.detach()
    eye = torch.eye(b, dtype=out.dtype, device=out.device)
    grads = torch.autograd.grad(out.sum(1), list(params), grad_outputs=eye, is_grads_batched=True, allow_unused=True)
    return _flatten(grads, b).to(x.device), out.detach()


def per_sample_jacobian(model: nn.Module, x: torch.Tensor, params: Sequence[nn.Parameter], with_logits: bool = False) -> Any:
    """Reference for :func:`batch_jacobian`: one backward per sample, like the official code.

    Returns the Jacobian, or ``(jacobian, logits)`` with ``with_logits``.
    """
    out = logits(model, x)
    rows = []
    if params:
        for i in range(out.shape[0]):
            grads = torch.autograd.grad(out[i].sum(), list(params), retain_graph=True, allow_unused=True)
            rows.append(_flatten(grads, 1).to(x.device))
    jac = torch.cat(rows, 0) if rows else torch.zeros(out.shape[0], 0, device=x.device)
    return (jac, out.detach()) if with_logits else jac


JACOBIAN_METHODS = ("auto", "batched", "loop")
LAYOUTS = ("auto", "channels_last", "contiguous")
CONV_BACKENDS = ("auto", "onednn", "native")
BACKWARDS = ("auto", "fast", "autograd")


_native_lock = threading.Lock()
_native_users = 0
_onednn_before = True


@contextmanager
def _native_convs() -> Iterator[None]:
    """Run a block with PyTorch's oneDNN (mkldnn) CPU kernels switched off.

    The flag is process-wide, so overlapping blocks (threads) share one
    switch: the first turns oneDNN off, the last restores what it found.
    Meanwhile other threads' convolutions also use the native kernels
    (values differ at float-noise level). ``torch.backends.mkldnn.flags`` is
    not used: it also resets the TF32 flag and warns on every call.
    """
    global _native_users, _onednn_before
    with _native_lock:
        if _native_users == 0:
            _onednn_before = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
        _native_users += 1
    try:
        yield
    finally:
        with _native_lock:
            _native_users -= 1
            if _native_users == 0:
                torch.backends.mkldnn.enabled = _onednn_before


def jacobian(
    model: nn.Module,
    x: torch.Tensor,
    params: Sequence[nn.Parameter],
    method: str,
    layout: str,
    conv: str = "onednn",
    backward: str = "autograd",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch Jacobian and logits by a resolved plan (equal results, different speed).

    ``method``: ``batched`` (one forward, all vector-Jacobian products at
    once, :func:`batch_jacobian`) or ``loop`` (one backward per sample
    through the same graph, :func:`per_sample_jacobian`). ``layout``: the
    memory format of ``x``, ``contiguous`` or ``channels_last``. ``conv``:
    the CPU convolution kernels, ``onednn`` (PyTorch's setting, left as it
    is) or ``native`` (oneDNN switched off for this call; see
    :func:`_native_convs`). ``backward``: ``autograd`` (PyTorch's kernels)
    or ``fast`` (the ``loop`` method with cheaper BatchNorm and pooling
    backward kernels, :func:`~tenas_automl.indicators._backward.fast_backward`;
    the ``batched`` method ignores it). :meth:`JacobianSettings.plan`
    resolves ``auto`` to the fastest combination measured for the network
    and device.
    """
    # 'auto' is not allowed here: JacobianSettings.plan resolves it.
    for kind, value, allowed in (
        ("jacobian method", method, JACOBIAN_METHODS),
        ("layout", layout, LAYOUTS),
        ("conv backend", conv, CONV_BACKENDS),
        ("backward", backward, BACKWARDS),
    ):
        check_choice(f"resolved {kind}", value, [a for a in allowed if a != "auto"])
    x = to_layout(x, layout)
    with _native_convs() if conv == "native" else nullcontext():
        if method == "batched":
            return batch_jacobian(model, x, params)
        with fast_backward(model) if backward == "fast" else nullcontext():
            return per_sample_jacobian(model, x, params, with_logits=True)


def resolve_layout(layout: str, device: torch.device) -> str:
    """A batch layout with ``auto`` resolved: ``channels_last`` on CPU, where
    oneDNN's convolutions, pooling and BatchNorm run about 2x faster on NB201's
    16-channel network (values move at float-noise level); ``contiguous`` elsewhere."""
    check_choice("layout", layout, LAYOUTS)
    if layout != "auto":
        return layout
    return "channels_last" if device.type == "cpu" else "contiguous"


def to_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` in a resolved ``layout`` (only 4-D batches have a channels-last form)."""
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" and x.dim() == 4 else x


def is_constant(out: torch.Tensor) -> bool:
    """True when every sample has the same output: no path from input to output."""
    out = out.detach()
    if out.shape[0] < 2 or not bool(torch.isfinite(out).all()):
        return False
    return bool((out - out[:1]).abs().max() <= 1e-6 * (1.0 + out.abs().max()))


def relu_modules(model: nn.Module, rule: str = "instance") -> list[nn.Module]:
    """The modules that count as ReLUs under ``rule`` (see :data:`RELU_RULES`)."""
    check_choice("ReLU rule", rule, RELU_RULES)
    if rule == "instance":
        return [m for m in model.modules() if isinstance(m, nn.ReLU)]
    return [m for m in model.modules() if "ReLU" in str(type(m))]


@contextmanager
def relu_hooks(model: nn.Module, callback: ReluCallback, rule: str = "instance") -> Iterator[None]:
    """Call ``callback(module, input, output)`` after every ReLU module (under ``rule``) runs.

    Codes are read from the input, as both papers define them: for a ReLU,
    ``relu(x) > 0`` iff ``x > 0``, so this is also right after an in-place
    ReLU has overwritten its input; for a container such as ``ReLUConvBN`` the
    output is no ReLU's at all.
    """
    handles = [m.register_forward_hook(lambda mod, inp, out: callback(mod, inp[0], out)) for m in relu_modules(model, rule)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def live_relus(model: nn.Module, x: torch.Tensor, seed: int = 0, rule: str = "instance") -> set[int]:
    """``id`` of the ReLU modules (under ``rule``) whose output reaches the network output.

    A ReLU on a dead branch (for instance an op whose node only feeds ``none``
    edges) runs but its output is multiplied by zero: its gradient under a
    random cotangent is exactly zero. The ``clean`` mode ignores such ReLUs.
    """
    outputs: list[tuple[nn.Module, torch.Tensor]] = []

    def keep(mod: nn.Module, _inp: torch.Tensor, out: torch.Tensor) -> None:
        outputs.append((mod, out))

    # The input requires grad so that a ReLU reading it directly is in the graph.
    x = x.detach().requires_grad_(True)
    with torch.enable_grad(), relu_hooks(model, keep, rule):
        out = logits(model, x)
    outputs = [(m, o) for m, o in outputs if o.requires_grad]
    if not outputs or not out.requires_grad:
        return set()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    cot = torch.randn(out.shape, generator=gen).to(out.device, out.dtype)
    grads = torch.autograd.grad(out, [o for _, o in outputs], grad_outputs=cot, allow_unused=True)
    return {id(m) for (m, _), g in zip(outputs, grads) if g is not None and bool((g != 0).any())}


def running_parameters(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Parameter]]:
    """``named_parameters`` of the modules that run on ``x`` (in ``named_parameters`` order)."""
    ran: set[int] = set()
    handles = [m.register_forward_hook(lambda mod, _i, _o: ran.add(id(mod))) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
    out, seen = [], set()
    for prefix, module in model.named_modules():
        if id(module) not in ran:
            continue
        for name, param in module.named_parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                out.append((f"{prefix}.{name}" if prefix else name, param))
    return out
