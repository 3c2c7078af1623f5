"""Training-free search strategies: TE-NAS pruning, TEG-NAS evolution, NASWOT random.

>>> from tenas_automl import get_space
>>> from tenas_automl.strategies import get_strategy
>>> result = get_strategy("prune", seed=0).search(get_space("nb201"))  # doctest: +SKIP
>>> result.arch_str, result.evaluations                                # doctest: +SKIP
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
    "Evaluator",
    "ProgressFn",
    "PruneStrategy",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchResult",
    "SearchSettingError",
    "SearchStrategy",
    "get_strategy",
]
