"""The :class:`Indicator` protocol, its settings, and the per-call context.

An indicator scores *masks* of a space (see :mod:`tenas_automl.spaces.base`):
``score_masks(space, masks, ctx)`` returns one float per mask, NaN where the
mask cannot be scored (for instance a cell with no path from input to output).
All masks of one call are scored on the same weights and the same batches
(common random numbers), which is what the TE-NAS pruning search compares.

Settings are frozen dataclasses whose defaults reproduce the official code of
each paper; every field can be overridden by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from tenas_automl.data import ImageData, image_batch, random_crops
from tenas_automl.errors import TenasError, UnknownNameError, check_choice
from tenas_automl.indicators._nn import BACKWARDS, CONV_BACKENDS, JACOBIAN_METHODS, LAYOUTS
from tenas_automl.spaces.base import Mask, Space, Supernet

#: ``paper``: the official code's behaviour, quirks included; ``clean``: quirks fixed.
MODES = ("paper", "clean")
#: How repeats differ: fresh weights (TEG-NAS), a fresh data batch (TE-NAS
#: pruning, weights shared), or both.
RESAMPLE = ("weights", "data", "both")
#: Weight initialisations: PyTorch's ``default``, or AZ-NAS's and VKDNW's Kaiming-normal fan-in.
INITS = ("kaiming_normal_fan_in", "default")


def derive_seed(seed: int, *keys: Hashable) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``keys`` (stable across runs).

    Python's ``hash`` is salted per process, so the keys are hashed with SHA-256.
    """
    text = json.dumps([int(seed), *[str(k) for k in keys]])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


#: Settings fields added after scores were first cached, with their defaults.
_ADDED_LATER: dict[str, Any] = {"first_repeat": 0, "backward": "auto", "init": "default"}
_MISSING = object()


@dataclass(frozen=True)
class Settings:
    """Settings shared by every indicator; subclasses add their own fields.

    ``mode`` None means "the mode of the call" (``evaluate(mode=...)``).
    """

    repeats: int = 1
    mode: str | None = None

    def replace(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied; unknown names raise :class:`UnknownNameError`."""
        allowed = [f.name for f in dataclasses.fields(self)]
        for key in overrides:
            if key not in allowed:
                raise UnknownNameError(f"setting of {type(self).__name__}", key, allowed)
        new = dataclasses.replace(self, **overrides)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise :class:`TenasError` for values that cannot work."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _POSITIVE and value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise TenasError(f"setting {f.name}={value!r} must be a positive integer")
        if self.mode is not None:
            check_choice("mode", self.mode, MODES)
        first = getattr(self, "first_repeat", 0)
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise TenasError(f"setting first_repeat={first!r} must be a non-negative integer")
        resample = getattr(self, "resample", None)
        if resample is not None:
            check_choice("resample", resample, RESAMPLE)
        for key, label, allowed in (
            ("jacobian", "jacobian method", JACOBIAN_METHODS),
            ("layout", "layout", LAYOUTS),
            ("conv", "conv backend", CONV_BACKENDS),
            ("backward", "backward", BACKWARDS),
            ("init", "init", INITS),
        ):
            value = getattr(self, key, None)
            if value is not None:
                check_choice(label, value, allowed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """A short stable hash of the settings (for cache keys).

        Fields added after the first release are left out at their default,
        so scores cached before they existed keep their keys.
        """
        d = {k: v for k, v in self.to_dict().items() if _ADDED_LATER.get(k, _MISSING) != v}
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


#: TE-NAS's tiny DARTS scoring network: 1 channel, one normal and one
#: reduction cell, stem multiplier 1 (VITA-Group/TENAS ``prune_tenas.py``).
DARTS_TINY: dict[str, Any] = {"width": 1, "cells": 1, "stages": 2, "stem_multiplier": 1}

_POSITIVE = frozenset(
    {
        "repeats",
        "width",
        "cells",
        "stages",
        "in_channels",
        "num_classes",
        "stem_multiplier",
        "layers",
        "batch_size",
        "test_batch_size",
        "batches",
        "input_size",
    }
)


@dataclass(frozen=True)
class NetSettings(Settings):
    """Settings of indicators that score a supernet of the space at some size.

    Network: ``width`` (channels of the first stage), ``cells`` (cells per
    stage), ``stages``, ``in_channels``, ``stem``, ``num_classes`` (None = the
    dataset's), and for DARTS ``stem_multiplier`` and ``layers`` (total cells,
    DARTS-style reductions; replaces ``cells``/``stages``); None leaves the
    space's default. Data: ``batch_size`` images per batch, ``input_size``
    (None = the data's native resolution, else images are resized),
    ``augment`` (the NB201 training transform). ``resample``: what differs
    between repeats (fresh ``weights``, fresh ``data``, or ``both``).
    ``first_repeat``: the draw index of the first repeat (repeat ``r`` uses
    draw ``first_repeat + r``), so that ``repeats=1, first_repeat=r`` gives
    repeat ``r`` of a multi-repeat score on its own.
    """

    width: int = 16
    cells: int = 5
    stages: int = 3
    in_channels: int = 3
    stem: bool = True
    num_classes: int | None = None
    stem_multiplier: int | None = None
    layers: int | None = None
    batch_size: int = 64
    input_size: int | None = None
    augment: bool = False
    resample: str = "weights"
    first_repeat: int = 0

    def net_kwargs(self, num_classes: int) -> dict[str, Any]:
        """``Space.build_supernet`` keywords for this network."""
        kw: dict[str, Any] = {
            "channels": self.width,
            "num_classes": self.num_classes or num_classes,
            "in_channels": self.in_channels,
            "stem": self.stem,
        }
        if self.layers is not None:
            kw["layers"] = self.layers
        else:
            kw.update(cells_per_stage=self.cells, stages=self.stages)
        if self.stem_multiplier is not None:
            kw["stem_multiplier"] = self.stem_multiplier
        return kw


@dataclass(frozen=True)
class JacobianSettings(NetSettings):
    """:class:`NetSettings` of the indicators built on the batch Jacobian (``ntk``, ``gen``).

    How the Jacobian is computed (equal up to float summation order; see
    :func:`tenas_automl.indicators._nn.jacobian`): ``jacobian`` ``batched``
    or ``loop``; ``layout`` of the input, ``channels_last`` or
    ``contiguous``; ``conv``, the CPU convolution kernels, ``onednn`` or
    ``native``; ``backward``, the loop's BatchNorm and pooling backward
    kernels, ``autograd`` or ``fast``. ``auto`` (each) takes :meth:`plan`'s
    choice. Kappa moves at float-noise level between them (up to 0.7% on
    an ill-conditioned 72x72 kernel between layouts; about 1e-7 between
    the two backward kernels). The network and repeats default to TE-NAS's
    and TEG-NAS's NB201 ones (3 channels, one cell per stage, 3 repeats of
    augmented batches).
    """

    width: int = 3
    cells: int = 1
    repeats: int = 3
    augment: bool = True
    resample: str = "weights"
    jacobian: str = "auto"
    layout: str = "auto"
    conv: str = "auto"
    backward: str = "auto"

    def plan(self, device: torch.device) -> tuple[str, str, str, str]:
        """``(jacobian, layout, conv, backward)`` with every ``auto`` resolved for ``device``.

        On CPU: at width 1 (TE-NAS's DARTS network) oneDNN's convolution
        backward is much slower than the native kernels and the batched VJPs
        win; at width 3 (NB201) the per-sample loop with the fast
        BatchNorm/pooling backward wins. The batch stays contiguous, as in
        the official code: a channels-last batch sums in another order, and
        on an ill-conditioned kernel that moved kappa by up to 0.7% from the
        official value on the same weights, against 1e-4 contiguous
        (``tests/test_official_ntk.py``); on the supernet it saved no time.
        On CUDA: batched, contiguous (``conv`` and ``backward`` do not apply).
        """
        if device.type == "cuda":
            auto = ("batched", "contiguous", "onednn", "autograd")
        elif self.width == 1:
            auto = ("batched", "contiguous", "native", "autograd")
        else:
            auto = ("loop", "contiguous", "onednn", "fast")
        chosen = (self.jacobian, self.layout, self.conv, self.backward)
        return tuple(a if c == "auto" else c for c, a in zip(chosen, auto))  # type: ignore[return-value]


@dataclass
class Context:
    """What one :func:`~tenas_automl.indicators.evaluate` call shares between indicators.

    Networks and batches are derived from ``seed`` and memoised, so two
    indicators asking for the same network (same size, same repeat) get the
    same weights, as TEG-NAS scores its kappa and G on the same networks.
    """

    space: Space
    seed: int
    device: torch.device
    data: ImageData
    mode: str = "paper"
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def supernet(self, index: int = 0, **build_kwargs: Any) -> Supernet:
        """The supernet holding every op, built with ``build_kwargs``, weights seeded
        by (seed, ``build_kwargs``, ``index``).

        Built on the CPU under a forked RNG, so its weights do not depend on the
        device, on the global RNG state, or on which masks are scored.
        """
        config = tuple(sorted(build_kwargs.items()))

        def make() -> Supernet:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(self.seed, "weights", *config, index))
                net = self.space.build_supernet(None, **build_kwargs)
            return net.to(self.device).train()

        return self.memo(("supernet", config, index), make)

    def network(self, settings: NetSettings, index: int = 0) -> Supernet:
        """:meth:`supernet` for the network that ``settings`` describe."""
        return self.supernet(index, **settings.net_kwargs(self.data.num_classes))

    def images(
        self,
        n: int,
        *,
        index: int = 0,
        split: str = "train",
        augment: bool = False,
        input_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` normalised images and labels of ``split``, seeded by (seed, split, ``index``)."""

        def make() -> tuple[torch.Tensor, torch.Tensor]:
            seed = derive_seed(self.seed, "images", split, index)
            x, y = image_batch(self.data, n, seed=seed, split=split, augment=augment, device=self.device)
            if input_size is not None and x.shape[-1] != input_size:
                x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
            return x, y

        return self.memo(("images", n, index, split, augment, input_size), make)

    def crops(self, n: int, *, size: int, index: int = 0) -> torch.Tensor:
        """``n`` single-channel ``size x size`` crops (linear-region inputs)."""
        seed = derive_seed(self.seed, "crops", size, index)
        return self.memo(
            ("crops", n, size, index),
            lambda: random_crops(self.data, n, size=size, seed=seed, device=self.device),
        )


class Indicator(ABC):
    """A training-free score of architectures (masks) of a search space.

    Subclasses set ``name``, ``higher_is_better``, ``cost`` (a rough guide:
    ``"free"``, ``"low"``, ``"medium"``, ``"high"``) and ``settings_class``,
    and implement :meth:`score_masks`. The first line of the class docstring is
    the one-line description shown by ``tenas-automl list indicators``.
    """

    name: ClassVar[str]
    higher_is_better: ClassVar[bool]
    cost: ClassVar[str] = "medium"
    settings_class: ClassVar[type[Settings]] = Settings
    #: Bump when the computation changes, so that cached scores are not reused.
    version: ClassVar[int] = 1

    #: Paper settings that differ by space: ``{space name: {field: value}}``, and
    #: under ``"NAME:imagenet"`` those that differ again on ImageNet-like data
    #: (a dataset whose name starts with "imagenet"). They apply to the fields
    #: the user did not set.
    space_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        default = self.settings_class()
        base = settings if settings is not None else default
        if not isinstance(base, self.settings_class):
            raise TypeError(f"{self.name} needs {self.settings_class.__name__}, got {type(base).__name__}")
        base.validate()
        self.settings = base.replace(**overrides) if overrides else base
        given = base.to_dict()
        self._explicit = frozenset(overrides) | {k for k, v in default.to_dict().items() if given[k] != v}

    def effective_settings(self, space: Space, data: ImageData) -> Settings:
        """The settings used on ``space``: :attr:`space_defaults` for unset fields."""
        defaults = {k: v for k, v in self.space_defaults_for(space, data).items() if k not in self._explicit}
        return self.settings.replace(**defaults) if defaults else self.settings

    def space_defaults_for(self, space: Space, data: ImageData) -> dict[str, Any]:
        """Paper settings specific to ``space`` (and the data); see :attr:`space_defaults`."""
        defaults = dict(self.space_defaults.get(space.name, {}))
        if data.name.lower().startswith("imagenet"):
            defaults.update(self.space_defaults.get(f"{space.name}:imagenet", {}))
        return defaults

    def resolved_mode(self, ctx: Context) -> str:
        return self.settings.mode or ctx.mode

    def key(self, mode: str) -> str:
        """Identifies the computation: name, version, mode and a settings digest
        (space-specific defaults are determined by the space, part of any key)."""
        return f"{self.name}-v{self.version}-{mode}-{self.settings.digest()}"

    @abstractmethod
    def score_masks(self, space: Space, masks: Sequence[Mask], ctx: Context) -> np.ndarray:
        """One float per mask (NaN where the mask cannot be scored)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.settings.to_dict().items())
        return f"{type(self).__name__}({fields})"


def repeat_indices(settings: Settings, r: int) -> tuple[int, int]:
    """(weights index, data index) of repeat ``r`` under ``settings.resample``."""
    resample = getattr(settings, "resample", "weights")
    r += getattr(settings, "first_repeat", 0)
    weights = r if resample in ("weights", "both") else 0
    data = r if resample in ("data", "both") else 0
    return weights, data
