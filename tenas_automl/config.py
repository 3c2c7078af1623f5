"""``ScoringConfig``: how indicator values are computed, as one validated value.

Every search and integration scores architectures with the same seven
settings: the indicators, their seed, the device, the dataset whose setting
applies (classes, input size, normalisation), where its images come from, the
mode (``paper`` or ``clean``) and per-indicator setting overrides. A
:class:`ScoringConfig` holds them, checks them when it is made (names against
the registry, overrides against each indicator's settings, dataset, mode and
device against what is allowed) and names them with one key, so that values
computed under one configuration are never mixed with another's.

Example:
    >>> from tenas_automl import ScoringConfig
    >>> config = ScoringConfig(("ensemble",), seed=1, overrides={"meco": {"batch_size": 8}})
    >>> config.combinations
    ('ensemble',)
    >>> "meco" in config.members and config.higher_is_better["meco"]
    True
    >>> config.replace(seed=2).seed
    2
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypedDict

from tenas_automl.data import DATASETS
from tenas_automl.errors import TenasError, UnknownNameError, check_choice
from tenas_automl.indicators.base import MODES


class ScoringConfigError(TenasError, ValueError):
    """A bad scoring setting (indicator, override, dataset, mode, device, seed)."""


def parse_indicators(indicators: Sequence[str] | str) -> tuple[str, ...]:
    """``("ntk", "lr")`` from a sequence or a comma-separated string."""
    if isinstance(indicators, str):
        indicators = indicators.split(",")
    if not isinstance(indicators, Sequence) or not all(isinstance(n, str) for n in indicators):
        raise ScoringConfigError(f"indicators must be names (a list or 'ntk,lr'), got {indicators!r}")
    return tuple(n.strip() for n in indicators if n.strip())


def _check_device(device: object) -> str:
    text = str(device)
    if text in ("auto", "cpu", "cuda", "mps") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ScoringConfigError(f"bad device {device!r}; expected auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class ScoringConfig:
    """The indicators and the settings they are scored with.

    Args:
        indicators: indicator or combination names (``ensemble``, ``az`` are
            scored by their members and rank by their log-rank sum).
        seed: seed of the indicators' weights and batches.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        dataset: whose setting applies: cifar10, cifar100 or ImageNet16-120.
        data_dir: a folder with that dataset's images (None: the bundled sample).
        mode: ``paper`` (the official code's defaults and quirks) or ``clean``.
        overrides: per-indicator settings, ``{"ntk": {"batch_size": 32}}``;
            every key names an indicator and every field one of its settings.

    Raises:
        ScoringConfigError: a bad value, named, with what is allowed.
        UnknownNameError: an indicator name the registry does not know.
    """

    indicators: tuple[str, ...] = ("ntk", "lr")
    seed: int = 0
    device: str = "auto"
    dataset: str = "cifar10"
    data_dir: str | None = None
    mode: str = "paper"
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalising a frozen dataclass's own fields
        set_(self, "indicators", parse_indicators(self.indicators))
        if not self.indicators:
            raise ScoringConfigError("indicators is empty; give at least one, e.g. ntk,lr")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            try:
                seed = int(self.seed)  # numpy integers
            except (TypeError, ValueError):
                raise ScoringConfigError(f"seed must be an integer, got {self.seed!r}") from None
            if seed != self.seed or isinstance(self.seed, bool):
                raise ScoringConfigError(f"seed must be an integer, got {self.seed!r}")
            set_(self, "seed", seed)
        set_(self, "device", _check_device(self.device))
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("mode", self.mode, MODES)
        if self.data_dir is not None:
            set_(self, "data_dir", str(self.data_dir))
        if not isinstance(self.overrides, Mapping):
            raise ScoringConfigError(f"overrides must map indicator -> {{setting: value}}, got {self.overrides!r}")
        overrides = {}
        for name, settings in self.overrides.items():
            if not isinstance(settings, Mapping):
                raise ScoringConfigError(f"overrides[{name!r}] must map setting -> value, got {settings!r}")
            overrides[str(name)] = dict(settings)
        set_(self, "overrides", overrides)
        self._indicator_objects  # noqa: B018 -- builds every indicator: names and settings checked now

    # -- what the configuration scores --------------------------------------
    @cached_property
    def _split(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        from tenas_automl.indicators.combinations import split_combinations

        members, combos = split_combinations(self.indicators)
        return tuple(members), tuple(combos)

    @property
    def members(self) -> tuple[str, ...]:
        """The indicators scored: each combination's members in its place, each once."""
        return self._split[0]

    @property
    def combinations(self) -> tuple[str, ...]:
        """The combinations named, which rank by their members' log-rank sum."""
        return self._split[1]

    @cached_property
    def _indicator_objects(self) -> dict[str, Any]:
        from tenas_automl.indicators.registry import INDICATORS, get_indicator

        for key in self.overrides:
            if key not in INDICATORS:
                raise UnknownNameError("indicator (in overrides)", key, INDICATORS)
        return {n: get_indicator(n, **self.overrides.get(n, {})) for n in self.members}

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """The direction of each member."""
        return {n: bool(ind.higher_is_better) for n, ind in self._indicator_objects.items()}

    def check_overrides_apply(self) -> None:
        """Raise unless every override is for an indicator this configuration scores
        (for callers that own the indicator list, where a stray entry is a typo)."""
        unknown = sorted(set(self.overrides) - set(self.members))
        if unknown:
            raise ScoringConfigError(f"overrides for {unknown}, which are not among the indicators {list(self.members)}")

    # -- keys ---------------------------------------------------------------
    def indicator_keys(self) -> dict[str, str]:
        """Per member, a string naming everything its values depend on (code
        version, mode, settings, seed, dataset, data source; not the device)."""
        data = self.data_dir or "bundled"
        return {
            n: f"{ind.key(ind.settings.mode or self.mode)}|seed={self.seed}|{self.dataset}|{data}"
            for n, ind in self._indicator_objects.items()
        }

    def cache_key(self) -> str:
        """One string for the whole configuration: equal keys, interchangeable values."""
        return json.dumps([list(self.indicator_keys().values()), list(self.combinations)])

    def __hash__(self) -> int:
        return hash((self.cache_key(), self.device))

    # -- use ----------------------------------------------------------------
    def evaluate_kwargs(self) -> dict[str, Any]:
        """Keywords of :func:`tenas_automl.indicators.evaluate` and :func:`tenas_automl.score_many`."""
        return {
            "seed": self.seed,
            "device": self.device,
            "dataset": self.dataset,
            "data_dir": self.data_dir,
            "mode": self.mode,
            "overrides": {k: dict(v) for k, v in self.overrides.items()} or None,
        }

    def replace(self, **changes: Any) -> ScoringConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "indicators": list(self.indicators),
            "seed": self.seed,
            "device": self.device,
            "dataset": self.dataset,
            "data_dir": self.data_dir,
            "mode": self.mode,
            "overrides": {k: dict(v) for k, v in self.overrides.items()},
        }


class ConfigSettings:
    """Read-only views of ``self.config``'s settings, for the classes that score with one."""

    config: ScoringConfig

    @property
    def indicators(self) -> tuple[str, ...]:
        """The indicators scored (a combination's members in its place)."""
        return self.config.members

    @property
    def combinations(self) -> tuple[str, ...]:
        """The combinations named, which rank a pool by their members."""
        return self.config.combinations

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return self.config.higher_is_better

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def device(self) -> str:
        return self.config.device

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def data_dir(self) -> str | None:
        return self.config.data_dir

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def overrides(self) -> Mapping[str, Mapping[str, Any]]:
        return self.config.overrides


class ScoringSettings(TypedDict, total=False):
    """The keyword settings of a :class:`ScoringConfig` that entry points accept beside ``config=``
    (``**settings: Unpack[ScoringSettings]``); the defaults are the dataclass's."""

    seed: int | None
    device: str | None
    dataset: str | None
    data_dir: str | None
    mode: str | None
    overrides: Mapping[str, Mapping[str, Any]] | None


_SETTING_NAMES = tuple(ScoringSettings.__annotations__)


def scoring_config(
    config: ScoringConfig | None, indicators: Sequence[str] | str | None, default_indicators: Sequence[str], **settings: Any
) -> ScoringConfig:
    """``config`` itself, or the configuration of the separate arguments of an older signature.

    ``settings`` are the keyword fields (seed, device, ...) as the caller got
    them; None or the field's default counts as not given. Giving ``config``
    and any of them raises, naming them.
    """
    unknown = [k for k in settings if k not in _SETTING_NAMES]
    if unknown:
        raise ScoringConfigError(f"unknown scoring setting {unknown[0]!r}; allowed: {', '.join(_SETTING_NAMES)}")
    if config is None:
        given = {k: v for k, v in settings.items() if v is not None}
        return ScoringConfig(default_indicators if indicators is None else indicators, **given)
    if not isinstance(config, ScoringConfig):
        raise ScoringConfigError(f"config must be a ScoringConfig, got {type(config).__name__}")
    defaults = {f.name: f.default for f in dataclasses.fields(ScoringConfig)}
    clash = [k for k, v in settings.items() if v is not None and v != defaults.get(k) and v != {}]
    if indicators is not None:
        clash.insert(0, "indicators")
    if clash:
        raise ScoringConfigError(
            f"give the scoring settings either as config= or as separate arguments, not both (got config and {', '.join(clash)})"
        )
    return config


__all__ = ["ConfigSettings", "ScoringConfig", "ScoringConfigError", "ScoringSettings", "parse_indicators", "scoring_config"]
