"""Indicators by name: ``get_indicator(name, **overrides)``, ``list_indicators()``."""

from __future__ import annotations

from typing import Any

from tenas_automl.errors import UnknownNameError
from tenas_automl.indicators.az_nas import AzExpressivity, AzProgressivity, AzTrainability
from tenas_automl.indicators.base import Indicator
from tenas_automl.indicators.baselines import Flops, GradNorm, Jacov, Params, Snip, Synflow
from tenas_automl.indicators.gen import Gen
from tenas_automl.indicators.linear_regions import LinearRegions
from tenas_automl.indicators.meco import Meco
from tenas_automl.indicators.naswot import Naswot
from tenas_automl.indicators.ntk import NTK
from tenas_automl.indicators.swap import Swap
from tenas_automl.indicators.vkdnw import Vkdnw
from tenas_automl.indicators.zico import Zico

#: Every indicator class by name, the papers' four first.
INDICATORS: dict[str, type[Indicator]] = {
    cls.name: cls
    for cls in (
        NTK,
        LinearRegions,
        Gen,
        Naswot,
        Params,
        Flops,
        Synflow,
        Jacov,
        Snip,
        GradNorm,
        AzExpressivity,
        AzProgressivity,
        AzTrainability,
        Zico,
        Meco,
        Vkdnw,
        Swap,
    )
}


def list_indicators() -> list[str]:
    """Names of the available indicators."""
    return list(INDICATORS)


def get_indicator(name: str, **overrides: Any) -> Indicator:
    """The indicator called ``name`` with its paper settings, ``overrides`` applied.

    Raises :class:`UnknownNameError` for an unknown name or setting.
    """
    if name not in INDICATORS:
        raise UnknownNameError("indicator", name, INDICATORS)
    return INDICATORS[name](**overrides)


def higher_is_better(name: str) -> bool:
    """The direction of indicator ``name``."""
    if name not in INDICATORS:
        raise UnknownNameError("indicator", name, INDICATORS)
    return INDICATORS[name].higher_is_better
