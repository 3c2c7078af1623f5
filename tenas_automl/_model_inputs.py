"""The images :func:`tenas_automl.score_model` feeds a user's model: the user's own tensors or
DataLoaders, seeded draws of them, and resizing to the model's input shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from tenas_automl.errors import TenasError


def check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(int(d) for d in shape)
    if len(dims) != 3 or min(dims) < 1:
        raise TenasError(f"input_shape must be (channels, height, width) of positive sizes, got {tuple(shape)!r}")
    return dims  # type: ignore[return-value]


def reshape_images(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Images resized to ``shape`` (bilinear) with its channel count (grey for 1, channels cycled for more)."""
    c, h, w = shape
    if x.shape[-2:] != (h, w):
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    if x.shape[1] != c:
        x = x.mean(dim=1, keepdim=True) if c == 1 else x[:, [i % x.shape[1] for i in range(c)]]
    return x.contiguous()


def draw_images(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` of the user's images, a seeded choice (with repeats only if there are fewer than ``n``)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=n, replace=len(images) < n)
    return images[torch.as_tensor(np.sort(pick))]


def images_of(data: Any) -> torch.Tensor:
    """A float tensor ``(N, C, H, W)`` from the user's tensor, array or iterable of batches."""
    if isinstance(data, np.ndarray):
        data = torch.as_tensor(data)
    if isinstance(data, torch.Tensor):
        x = data
    elif isinstance(data, Iterable):  # a DataLoader or a list of batches: (x, y) pairs or tensors
        parts = []
        for batch in data:
            part = batch[0] if isinstance(batch, (tuple, list)) else batch
            parts.append(torch.as_tensor(part))
            if sum(len(p) for p in parts) >= 1024:  # more than any indicator draws
                break
        if not parts:
            raise TenasError("the data given to score_model yielded no batch")
        x = torch.cat(parts)
    else:
        raise TenasError(
            f"data must be None, an ImageData, a dataset folder, a tensor (N, C, H, W) or a DataLoader; got {type(data).__name__}"
        )
    if x.ndim != 4:
        raise TenasError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    return x.float()
