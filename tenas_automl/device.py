"""Pick the torch device: ``auto`` means CUDA when present, else CPU."""

from __future__ import annotations

import torch

from tenas_automl.errors import check_choice

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda`` (or a ``cuda:N`` string) into a torch device."""
    if isinstance(device, torch.device):
        return device
    if device.startswith("cuda:"):
        return torch.device(device)
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from tenas_automl.errors import TenasError

        raise TenasError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
    return torch.device(device)
