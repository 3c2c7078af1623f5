"""Pick the torch device: ``auto`` means CUDA when present, else CPU."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from tenas_automl.errors import check_choice

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda`` (or a ``cuda:N`` string) into a torch device."""
    if isinstance(device, torch.device):
        return device
    if device.startswith("cuda:"):
        return _cuda_device(device)
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        return _cuda_device(device)
    return torch.device(device)


def _cuda_device(device: str) -> torch.device:
    """``cuda`` or ``cuda:N``, checked now rather than at the first tensor moved there."""
    from tenas_automl.errors import TenasError

    if not torch.cuda.is_available():
        raise TenasError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise TenasError(f"bad device {device!r}; expected auto, cpu, cuda or cuda:N") from None
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise TenasError(f"device {device!r} does not exist: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return dev


def set_threads(threads: int | None) -> None:
    """Set torch's CPU threads; ``None`` keeps torch's default (one per core).

    The scoring networks are tiny, so when several searches share a machine
    (parallel benchmark runs, NNI trials, Optuna ``n_jobs``) one thread each
    is much faster than oversubscribed cores.
    """
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        from tenas_automl.errors import TenasError

        raise TenasError(f"threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)


@contextmanager
def exact_numerics(device: torch.device) -> Iterator[None]:
    """On CUDA, score in plain float32 with deterministic cuDNN kernels.

    PyTorch's defaults let cuDNN convolutions use TF32 (10-bit mantissa) and
    pick kernels by timing, some of which add in a varying order; either
    would make a CUDA score drift from the CPU one and from run to run. The
    papers' GPUs (pre-Ampere) had no TF32, so plain float32 is also what the
    published numbers rest on. The previous flags are restored on exit; on
    CPU this does nothing.
    """
    if device.type != "cuda":
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, matmul.allow_tf32)
    cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, matmul.allow_tf32 = False, True, False, False
    try:
        yield
    finally:
        cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark, matmul.allow_tf32 = before
