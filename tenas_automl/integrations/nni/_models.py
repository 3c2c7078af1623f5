"""Score plain ``nn.Module`` models (frozen samples of any NNI model space).

The paper indicators score masks of a supernet of one of our spaces. For a
user's own NNI model space there is no such supernet, so the indicators that
are defined on the network itself are computed on the frozen model, with the
same helpers and settings (batch size, repeats, augmentation) as for our
spaces: ``ntk``, ``naswot`` and the baselines. ``lr`` (a one-cell, one-channel
network on 3x3 crops) and ``gen`` (the search cells' parameters) are defined
only on a supernet and raise a clear error here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tenas_automl.data import ImageData, image_batch, load_data
from tenas_automl.device import resolve_device
from tenas_automl.errors import TenasError
from tenas_automl.indicators import get_indicator
from tenas_automl.indicators._nn import batch_jacobian, is_constant, logits, weight_parameters
from tenas_automl.indicators.base import Indicator, derive_seed, repeat_indices
from tenas_automl.indicators.baselines import (
    count_size,
    grad_norm_score,
    jacov_score,
    loss_gradients,
    snip_score,
    synflow_score,
)
from tenas_automl.indicators.naswot import log_abs_det, naswot_kernel
from tenas_automl.indicators.ntk import condition_number, ntk_matrix

logger = logging.getLogger(__name__)

#: Indicators computable on any classification model.
MODEL_INDICATORS: tuple[str, ...] = ("ntk", "naswot", "params", "flops", "synflow", "snip", "grad_norm", "jacov")


def check_model_indicators(names: Sequence[str]) -> None:
    """Raise :class:`TenasError` for an indicator that needs one of our supernets."""
    for name in names:
        get_indicator(name)  # unknown names: UnknownNameError
        if name not in MODEL_INDICATORS:
            raise TenasError(
                f"indicator {name!r} needs a supernet of a tenas-automl space (NNI's NasBench201 or "
                f"DARTS hub space), which this NNI model space is not; indicators that work on any "
                f"model: {', '.join(MODEL_INDICATORS)}"
            )


def _labels_for(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # A model with fewer outputs than the data's classes still gets a valid loss.
    return y % out.shape[1] if out.shape[1] > 0 else y


class ModelScorer:
    """Score models built by a factory with model-agnostic indicators.

    Each repeat builds the model under a seed derived from (``seed``, repeat),
    so equal architectures get equal weights and scores; the images depend
    only on ``seed``, common to every model scored.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        seed: int = 0,
        device: str | torch.device = "auto",
        dataset: str = "cifar10",
        data_dir: str | None = None,
        data: ImageData | None = None,
        mode: str = "paper",
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        check_model_indicators(names)
        overrides = dict(overrides or {})
        self.indicators: dict[str, Indicator] = {n: get_indicator(n, **dict(overrides.get(n, {}))) for n in names}
        self.seed, self.mode = int(seed), mode
        self.device = resolve_device(device)
        self.dataset, self.data_dir = dataset, data_dir
        self._data = data
        self._images: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def data(self) -> ImageData:
        if self._data is None:
            self._data = load_data(self.dataset, self.data_dir)
        return self._data

    def _batch(self, n: int, index: int, augment: bool, input_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        key = (n, index, augment, input_size)
        if key not in self._images:
            seed = derive_seed(self.seed, "images", "train", index)
            x, y = image_batch(self.data, n, seed=seed, split="train", augment=augment, device=self.device)
            if input_size is not None and x.shape[-1] != input_size:
                x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
            self._images[key] = (x, y)
        return self._images[key]

    def score(self, build: Callable[[], nn.Module]) -> dict[str, float]:
        """``{indicator: value}`` for the model ``build()`` returns (NaN where it cannot be scored)."""
        models: dict[int, nn.Module] = {}

        def model(index: int) -> nn.Module:
            if index not in models:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(derive_seed(self.seed, "weights", index))
                    models[index] = build()
                models[index] = models[index].to(self.device).train()
            return models[index]

        out: dict[str, float] = {}
        for name, ind in self.indicators.items():
            s = ind.settings
            values = []
            for r in range(int(getattr(s, "repeats", 1))):
                wi, di = repeat_indices(s, r)
                x, y = self._batch(
                    int(getattr(s, "batch_size", 1)), di, bool(getattr(s, "augment", False)),
                    getattr(s, "input_size", None),
                )  # fmt: skip
                try:
                    values.append(self._one(name, model(wi), x, y))
                except RuntimeError as exc:  # e.g. a model that does not accept the images
                    raise TenasError(f"indicator {name!r} could not run on the frozen model: {exc}") from exc
            out[name] = float(np.mean(values)) if values else math.nan
        return out

    def _one(self, name: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        if name == "ntk":
            jac, out = batch_jacobian(net, x, weight_parameters(net))
            return math.nan if is_constant(out) else condition_number(ntk_matrix(jac), self.mode)
        if name == "naswot":
            kernel, out = naswot_kernel(net, x)
            return math.nan if is_constant(out) else log_abs_det(kernel)
        if name in ("params", "flops"):
            size = count_size(net, x)
            return float(size.params if name == "params" else size.flops)
        if name == "synflow":
            return synflow_score(net, tuple(x.shape[1:]))
        if name == "jacov":
            return jacov_score(net, x)[0]
        with torch.no_grad():
            out = logits(net, x[:2])
        pairs, _ = loss_gradients(net, x, _labels_for(out, y))
        return snip_score(pairs) if name == "snip" else grad_norm_score(pairs)
