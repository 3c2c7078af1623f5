"""The 2023-2025 indicators on any PyTorch model, not only a supernet of one of our spaces.

Each follows its indicator's paper settings (:mod:`.az_nas`, :mod:`.vkdnw`,
:mod:`.zico`, :mod:`.meco`, :mod:`.swap`): the re-initialisation (AZ-NAS and
VKDNW: Kaiming-normal fan-in; SWAP: Gaussian), the input (AZ-NAS, VKDNW:
standard-normal images; ZiCo, MeCo, SWAP: real ones), the batch sizes and
repeats. What a user's model cannot take from those settings is its size
(``width``, ``cells``): the model is scored as built.

AZ-NAS reads feature maps block by block. A model with a ``features(x)``
method returning a list of tensors gives them itself (as our supernets do);
for any other model, :func:`block_features` cuts its top-level modules into
blocks, each starting at a module with a convolution or linear weight, and
takes the last 4-D output of each block (global pooling excluded): the stem and every stage of a
ResNet, every conv-BN-ReLU of a plain ``nn.Sequential``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tenas_automl.indicators._nn import reinitialised_copy
from tenas_automl.indicators.az_nas import az_scores, kaiming_fan_in_init
from tenas_automl.indicators.base import derive_seed
from tenas_automl.indicators.meco import meco_score
from tenas_automl.indicators.swap import gaussian_init, regularised_swap, swap_score
from tenas_automl.indicators.vkdnw import vkdnw_score, vkdnw_value
from tenas_automl.indicators.zico import zico_score

AZ_PARTS = ("az_expressivity", "az_progressivity", "az_trainability")
#: The 2023-2025 indicators :func:`score_recent` computes on any model.
RECENT_MODEL_INDICATORS: tuple[str, ...] = (*AZ_PARTS, "vkdnw", "zico", "meco", "swap")

#: ``images(n, index) -> (x, y)``: ``n`` real images of draw ``index`` and labels for the model's outputs.
Images = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]


def _has_weight(module: nn.Module) -> bool:
    return any(p.dim() >= 2 for p in module.parameters())


def _blocks(model: nn.Module) -> list[list[nn.Module]]:
    children = list(model.children())
    # A wrapper whose single child holds the network: look inside it.
    while len(children) == 1 and list(children[0].children()):
        children = list(children[0].children())
    blocks: list[list[nn.Module]] = []
    for child in children:
        if _has_weight(child) or not blocks:
            blocks.append([child])
        else:
            blocks[-1].append(child)
    return blocks


_HEAD_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class _BlockFeatures(nn.Module):
    """``features(x)``: the last 4-D output of each block of ``model`` (see the module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        own = getattr(self.model, "features", None)
        if callable(own) and not isinstance(own, nn.Module):
            return list(own(x))
        outputs: dict[int, torch.Tensor] = {}

        def keep(k: int) -> Callable[..., None]:
            def hook(m: nn.Module, _inp: object, out: object) -> None:
                # Global pooling belongs to the classifier head, which AZ-NAS does not read.
                if isinstance(out, torch.Tensor) and out.dim() == 4 and not isinstance(m, _HEAD_POOLS):
                    outputs[k] = out

            return hook

        handles = [m.register_forward_hook(keep(k)) for k, block in enumerate(_blocks(self.model)) for m in block]
        try:
            self.model(x)
        finally:
            for h in handles:
                h.remove()
        return [outputs[k] for k in sorted(outputs)]


def block_features(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The feature maps AZ-NAS reads from ``model`` on ``x``, in forward order."""
    return _BlockFeatures(model).features(x)


def _kaiming(model: nn.Module, s: Any, seed: int, wi: int, memo: dict[Any, Any]) -> nn.Module:
    """The Kaiming-normal fan-in copy of weights ``wi`` (or the model itself), shared by AZ-NAS and VKDNW."""
    if s.init == "default":
        return model
    key = ("kaiming", wi)
    if key not in memo:
        memo[key] = reinitialised_copy(model, kaiming_fan_in_init, derive_seed(seed, "kaiming", wi))
    return memo[key]


def _randn(shape: tuple[int, ...], seed: int, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)


def score_recent(
    name: str,
    settings: Any,
    model: nn.Module,
    images: Images,
    input_shape: tuple[int, int, int],
    *,
    seed: int,
    wi: int,
    di: int,
    clean: bool,
    memo: dict[Any, Any],
) -> float:
    """One repeat (weights ``wi``, data ``di``) of indicator ``name`` on ``model`` (not modified).

    ``memo`` shares, within one model's scoring, AZ-NAS's three scores of one
    (wi, di) between its three indicators and the Kaiming copy between AZ-NAS and VKDNW.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    s = settings
    if name in AZ_PARTS:
        key = ("az", wi, di)
        if key not in memo:
            net = _kaiming(model, s, seed, wi, memo)
            if s.input == "images":
                x = images(s.batch_size, di)[0]
            else:
                x = _randn((s.batch_size, *input_shape), derive_seed(seed, "randn", di), device)
            gen = torch.Generator().manual_seed(derive_seed(seed, "az-rademacher", di))
            memo[key] = az_scores(_BlockFeatures(net), x, gen, clean)
        return float(memo[key][AZ_PARTS.index(name)])
    if name == "vkdnw":
        x = _randn((s.batch_size, *input_shape), derive_seed(seed, "randn", di), device)
        return vkdnw_value(*vkdnw_score(_kaiming(model, s, seed, wi, memo), x, s.tensors, s.p, clean))
    if name == "zico":
        x, y = images(s.batch_size * s.batches, di)
        value, constant = zico_score(model, list(zip(x.split(s.batch_size), y.split(s.batch_size))))
        return math.nan if constant else value
    if name == "meco":
        return float(meco_score(model, images(s.batch_size, di)[0], clean)[0])
    if name == "swap":
        net = reinitialised_copy(model, gaussian_init, derive_seed(seed, "gaussian", wi))
        count, params = swap_score(net, images(s.batch_size, 0)[0], count_params=s.mu is not None)
        return regularised_swap(count, params, s)
    raise KeyError(name)


__all__ = ["RECENT_MODEL_INDICATORS", "block_features", "score_recent"]
