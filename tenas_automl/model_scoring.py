"""Score any PyTorch model: ``score_model`` and the ``ModelScorer`` behind it.

The paper indicators score masks of a supernet of one of our spaces. For a
user's own model (an Optuna objective's CNN, a frozen sample of an NNI model
space) there is no such supernet, so the indicators that are defined on the
network itself are computed on the model, with the same helpers and settings
(batch size, repeats, augmentation, re-initialisation) as for our spaces:
``ntk``, ``naswot``, the baselines and the 2023-2025 indicators
(:data:`MODEL_INDICATORS`; AZ-NAS's feature maps as
:mod:`tenas_automl.indicators.on_models` cuts them). ``lr`` (a one-cell,
one-channel network on 3x3 crops) and ``gen`` (the search cells' parameters)
are defined on a supernet only and raise a one-line error here; so do the
combinations whose members include them (``ensemble``).

Example:
    >>> from torch import nn
    >>> from tenas_automl import score_model
    >>> def cnn():
    ...     return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
    ...                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    >>> result = score_model(cnn, indicators=["naswot", "params"], seed=0, device="cpu")
    >>> int(result.values["params"])
    330
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from tenas_automl._model_inputs import check_shape, draw_images, images_of, reshape_images
from tenas_automl.data import NUM_CLASSES, ImageData, image_batch, load_data
from tenas_automl.device import resolve_device
from tenas_automl.errors import TenasError, first_line
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
from tenas_automl.indicators.gen import centred_one_hot, kernel_regression_error
from tenas_automl.indicators.naswot import log_abs_det, naswot_kernel
from tenas_automl.indicators.ntk import condition_number, ntk_matrix
from tenas_automl.indicators.on_models import RECENT_MODEL_INDICATORS, score_recent

if TYPE_CHECKING:
    from tenas_automl.scoring import ScoreResult

logger = logging.getLogger(__name__)

#: Indicators computable on any classification model (the others need a supernet of one of our spaces).
MODEL_INDICATORS: tuple[str, ...] = (
    "ntk", "gen", "naswot", "params", "flops", "synflow", "snip", "grad_norm", "jacov", *RECENT_MODEL_INDICATORS,
)  # fmt: skip


def check_model_indicators(names: Sequence[str]) -> None:
    """Raise :class:`TenasError` for an indicator that needs one of our supernets."""
    from tenas_automl.indicators.combinations import COMBINATIONS

    for name in names:
        if name in COMBINATIONS:
            members = COMBINATIONS[name].members
            usable = all(m in MODEL_INDICATORS for m in members)
            raise TenasError(
                f"{name!r} is a combination, ranked within a pool of models: score its members "
                f"({', '.join(members)}) and rank them together"
                + (", or give it to TrainingFreeSampler(model_fn=...), which ranks its candidates by it" if usable else
                   f"; {', '.join(m for m in members if m not in MODEL_INDICATORS)} need(s) a supernet")
            )  # fmt: skip
        get_indicator(name)  # unknown names: UnknownNameError
        if name == "lr":
            raise TenasError(
                "indicator 'lr' needs a supernet of a tenas-automl space (nb201, darts): it counts the linear "
                "regions of TE-NAS's 1-channel thin network on 3x3 crops; on a model of its own nearly every image "
                "is a region of its own, so the count is the number of images for every model. Indicators that "
                f"work on any model: {', '.join(MODEL_INDICATORS)}"
            )
        if name not in MODEL_INDICATORS:
            raise TenasError(
                f"indicator {name!r} needs a supernet of a tenas-automl space (nb201, darts; NNI's "
                f"NasBench201 or DARTS hub space), not a model of its own; indicators that work on any "
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
        images: torch.Tensor | None = None,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> None:
        check_model_indicators(names)
        overrides = dict(overrides or {})
        self.indicators: dict[str, Indicator] = {n: get_indicator(n, **dict(overrides.get(n, {}))) for n in names}
        self.seed, self.mode = int(seed), mode
        self.device = resolve_device(device)
        self.dataset, self.data_dir = dataset, data_dir
        self._data = data
        self._given = None if images is None else images.detach().float()
        self.input_shape = None if input_shape is None else check_shape(input_shape)
        #: Labels drawn for the user's images range over these classes (no dataset is loaded for them).
        self.num_classes = int(num_classes) if num_classes is not None else NUM_CLASSES[dataset]
        self._images: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def data(self) -> ImageData:
        if self._data is None:
            self._data = load_data(self.dataset, self.data_dir)
        return self._data

    def _batch(
        self, n: int, index: int, augment: bool, input_size: int | None, split: str = "train"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        key = (n, index, augment, input_size, split)
        if key not in self._images:
            seed = derive_seed(self.seed, "images", split, index)
            if self._given is not None:  # the user's images; labels (for the loss-based indicators) drawn
                x = draw_images(self._given, n, seed).to(self.device)
                y = torch.as_tensor(np.random.default_rng(seed).integers(0, self.num_classes, len(x)))
            else:
                x, y = image_batch(self.data, n, seed=seed, split=split, augment=augment, device=self.device)
            if self.input_shape is not None:
                x = reshape_images(x, self.input_shape)
            elif input_size is not None and x.shape[-1] != input_size:
                x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
            self._images[key] = (x, y.to(self.device))
        return self._images[key]

    def score(self, build: Callable[[], nn.Module], seconds: dict[str, float] | None = None) -> dict[str, float]:
        """``{indicator: value}`` for the model ``build()`` returns (NaN where it cannot be scored);
        each indicator's time goes into ``seconds`` when given."""
        models: dict[int, nn.Module] = {}

        def model(index: int) -> nn.Module:
            if index not in models:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(derive_seed(self.seed, "weights", index))
                    models[index] = build()
                models[index] = models[index].to(self.device).train()
            return models[index]

        out: dict[str, float] = {}
        memo: dict[Any, Any] = {}
        for name, ind in self.indicators.items():
            start = time.perf_counter()
            s = ind.settings
            values = []
            for r in range(int(getattr(s, "repeats", 1))):
                wi, di = repeat_indices(s, r)
                x, y = self._batch(
                    int(getattr(s, "batch_size", 1)), di, bool(getattr(s, "augment", False)),
                    getattr(s, "input_size", None),
                )  # fmt: skip
                try:
                    if name in RECENT_MODEL_INDICATORS:
                        values.append(self._recent(name, s, model(wi), tuple(x.shape[1:]), wi, di, memo))
                        continue
                    if name == "gen":
                        t, ty = self._batch(int(s.test_batch_size), di, False, getattr(s, "input_size", None), "test")
                        values.append(self._gen(model(wi), x, y, t, ty))
                        continue
                    values.append(self._one(name, model(wi), x, y))
                except RuntimeError as exc:  # e.g. a model that does not accept the images
                    raise TenasError(
                        f"indicator {name!r} could not run on the model with inputs of shape {tuple(x.shape)}: {first_line(exc)}"
                    ) from exc
            out[name] = float(np.mean(values)) if values else math.nan
            if seconds is not None:
                seconds[name] = time.perf_counter() - start
        return out

    def _recent(self, name: str, s: Any, net: nn.Module, shape: tuple[int, ...], wi: int, di: int, memo: dict[Any, Any]) -> float:
        augment, size = bool(getattr(s, "augment", False)), getattr(s, "input_size", None)

        def images(n: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
            xs, ys = self._batch(n, index, augment, size)
            with torch.no_grad():
                return xs, _labels_for(logits(net, xs[:1]), ys)

        clean = (getattr(s, "mode", None) or self.mode) == "clean"
        return score_recent(name, s, net, images, shape, seed=self.seed, wi=wi, di=di, clean=clean, memo=memo)  # type: ignore[arg-type]

    def _gen(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, ty: torch.Tensor) -> float:
        """TEG-NAS's G on all of the model's weights: NTK regression of the labels of ``t`` from those of ``x``."""
        params = weight_parameters(net)
        jx, out = batch_jacobian(net, x, params)
        if is_constant(out) or jx.shape[1] < jx.shape[0]:
            return math.nan  # no path input -> output, or fewer weights than images (singular kernel)
        jt, _ = batch_jacobian(net, t, params)
        classes = out.shape[1]
        jx64, jt64 = jx.to(torch.float64), jt.to(torch.float64)
        y_x, y_t = centred_one_hot(_labels_for(out, y), classes), centred_one_hot(_labels_for(out, ty), classes)
        return kernel_regression_error(jx64 @ jx64.T, jt64 @ jx64.T, y_x, y_t)

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


def score_params(model_fn: Callable[[dict[str, Any]], nn.Module], params: Mapping[str, Any], config: Any) -> dict[str, float]:
    """The indicator values of ``model_fn(params)`` under a :class:`~tenas_automl.config.ScoringConfig`
    (its members; its data folder as the images): one candidate of a search over a user's parameters."""
    kwargs = config.evaluate_kwargs()
    data = kwargs.pop("data_dir")
    given = dict(params)

    def model() -> nn.Module:
        return model_fn(dict(given))

    model.__name__ = f"model_fn({json.dumps(given, sort_keys=True, default=str)})"
    result = score_model(model, config.members, data=data, **kwargs)
    return {n: float(result.values[n]) for n in config.members}


def score_model(
    model: nn.Module | Callable[[], nn.Module],
    indicators: Sequence[str] | str = ("naswot",),
    seed: int = 0,
    device: str | torch.device = "auto",
    data: ImageData | str | Any | None = None,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    *,
    dataset: str = "cifar10",
    mode: str = "paper",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ScoreResult:
    """Score a PyTorch model with the indicators defined on any network (:data:`MODEL_INDICATORS`).

    Args:
        model: an ``nn.Module`` (scored with its own weights, copied per
            repeat) or a zero-argument factory (each repeat builds a fresh
            model under a seed derived from ``seed``, so equal factories score
            equal).
        indicators: names, or ``"naswot,params"``.
        seed: seeds the factory's weights and the images drawn.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``.
        data: None (the bundled CIFAR-10 sample, with ``dataset``'s setting),
            an :class:`~tenas_automl.data.ImageData`, a dataset folder, or the
            user's images: a tensor ``(N, C, H, W)`` (already normalised) or a
            DataLoader of them.
        input_shape: ``(channels, height, width)`` the model takes; the images
            are resized (and turned grey, or their channels cycled) to it.
        num_classes: the classes of the labels drawn for the user's images
            (default: the dataset's); labels are taken modulo the model's
            outputs either way.
        dataset, mode, overrides: as for :func:`tenas_automl.score`.

    Tuple, list or dict outputs are read as logits (the last element, or the
    ``"logits"`` entry). The model is not kept after scoring. A model that
    fails on the images raises a one-line :class:`TenasError`; NaN values
    (a constant output) are returned as NaN. ``naswot`` needs ReLUs (it reads
    their activation codes; without any it is -inf, with a warning); ``snip``
    and ``grad_norm`` use a cross-entropy loss on the logits; ``ntk`` and
    ``gen`` differentiate all of the model's weights (``gen`` regresses the
    labels of held-out images: the dataset's test split, or other draws of the
    user's images).
    """
    from tenas_automl.config import parse_indicators
    from tenas_automl.scoring import ScoreResult

    names = list(parse_indicators(indicators))
    if not names:
        raise TenasError("indicators is empty; give at least one, e.g. naswot")
    if isinstance(model, nn.Module):
        module = model
        if not any(True for _ in module.parameters()):
            raise TenasError(f"the model {type(module).__name__} has no parameters to score")
        build: Callable[[], nn.Module] = lambda: copy.deepcopy(module)  # noqa: E731
        label = type(module).__name__
    elif callable(model):
        build, label = model, getattr(model, "__name__", type(model).__name__)
    else:
        raise TenasError(f"model must be an nn.Module or a zero-argument factory, got {type(model).__name__}")
    images, image_data, data_dir = None, None, None
    if isinstance(data, ImageData):
        image_data = data
    elif isinstance(data, (str, os.PathLike)):
        data_dir = str(data)
    elif data is not None:
        images = images_of(data)
    scorer = ModelScorer(
        names, seed=seed, device=device, dataset=dataset, data_dir=data_dir, data=image_data, mode=mode,
        overrides=overrides, images=images, input_shape=input_shape, num_classes=num_classes,
    )  # fmt: skip
    relus: list[bool] = []  # whether the first model built has a ReLU (for the naswot warning)

    def checked() -> nn.Module:
        try:
            net = build()
        except Exception as exc:
            raise TenasError(f"the model factory {label!r} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(net, nn.Module):
            raise TenasError(f"the model factory {label!r} returned a {type(net).__name__}, not an nn.Module")
        if not relus:
            relus.append(any("ReLU" in type(m).__name__ for m in net.modules()))
        return net

    seconds: dict[str, float] = {}
    values = scorer.score(checked, seconds)
    if "naswot" in names and not math.isfinite(values["naswot"]):
        # NASWOT reads the binary codes of ReLU inputs: without ReLUs there are none.
        logger.warning(
            "naswot of %s is %s%s; it ranks last", label, values["naswot"],
            "" if relus and relus[0] else " because the model has no ReLU (NASWOT counts ReLU activation patterns)",
        )  # fmt: skip
    return ScoreResult(label, values, seconds, int(seed), str(scorer.device))
