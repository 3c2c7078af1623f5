"""Training-free search strategies: TE-NAS pruning, TEG-NAS evolution, NASWOT random.

The ask/tell searches the integrations run over measured values (:class:`GuidedEvolution`,
:class:`LocalSearch`) are in :mod:`tenas_automl.strategies.guided`.

>>> from tenas_automl import get_space
>>> from tenas_automl.strategies import get_strategy
>>> result = get_strategy("prune", seed=0).search(get_space("nb201"))  # doctest: +SKIP
>>> quick = get_strategy("random", indicators=["naswot"], budget=3, seed=0, device="cpu",
...                      overrides={"naswot": {"cells": 1, "batch_size": 16}})  # a small NASWOT network
>>> found = quick.search(get_space("nb201"))
>>> found.evaluations, found.arch_str
(3, '|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|')
"""

from __future__ import annotations

from typing import Any

from tenas_automl.errors import check_choice
from tenas_automl.strategies.base import (
    Evaluator,
    ProgressFn,
    SearchResult,
    SearchSettingError,
    SearchStrategy,
)
from tenas_automl.strategies.evolution import EVOLUTION_PRESETS, RandomSearch, RegularizedEvolution
from tenas_automl.strategies.guided import CandidateSource, GuidedEvolution, LocalSearch, Measured
from tenas_automl.strategies.prune import PRUNE_PRESETS, PruneStrategy

STRATEGIES = ("prune", "evolution", "random")

_CLASSES: dict[str, type[SearchStrategy]] = {
    "prune": PruneStrategy,
    "evolution": RegularizedEvolution,
    "random": RandomSearch,
}


def get_strategy(name: str, **kwargs: Any) -> SearchStrategy:
    """The strategy called ``name`` (one of :data:`STRATEGIES`), built with ``kwargs``."""
    check_choice("strategy", name, STRATEGIES)
    return _CLASSES[name](**kwargs)


__all__ = [
    "EVOLUTION_PRESETS",
    "PRUNE_PRESETS",
    "STRATEGIES",
    "CandidateSource",
    "Evaluator",
    "GuidedEvolution",
    "LocalSearch",
    "Measured",
    "ProgressFn",
    "PruneStrategy",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchResult",
    "SearchSettingError",
    "SearchStrategy",
    "get_strategy",
]
