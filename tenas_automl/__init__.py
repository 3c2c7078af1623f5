"""tenas-automl: training-free neural architecture search (TE-NAS, NASWOT, TEG-NAS).

The public names are loaded lazily so that importing a light submodule (the
NNI tuner, the config writer) does not pay for torch.

Example:
    >>> from tenas_automl import get_space, score
    >>> space = get_space("nb201")
    >>> arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    >>> result = score(space, arch, indicators=["lr"], seed=0, device="cpu")
    >>> round(result.values["lr"], 1)  # linear regions, mean over TE-NAS's three repeats
    1246.3
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time the names load on first use
    from tenas_automl.config import ScoringConfig
    from tenas_automl.data import load_data
    from tenas_automl.errors import TenasError
    from tenas_automl.indicators import evaluate, get_indicator, list_indicators
    from tenas_automl.model_scoring import score_model
    from tenas_automl.scoring import CachedEvaluator, ScoreCache, ScoreResult, score, score_many
    from tenas_automl.spaces import get_space
    from tenas_automl.strategies import SearchResult, get_strategy

__version__ = "0.1.0"

_LAZY = {
    "TenasError": "tenas_automl.errors",
    "get_space": "tenas_automl.spaces",
    "get_strategy": "tenas_automl.strategies",
    "score": "tenas_automl.scoring",
    "score_many": "tenas_automl.scoring",
    "ScoreResult": "tenas_automl.scoring",
    "ScoreCache": "tenas_automl.scoring",
    "CachedEvaluator": "tenas_automl.scoring",
    "SearchResult": "tenas_automl.strategies",
    "evaluate": "tenas_automl.indicators",
    "list_indicators": "tenas_automl.indicators",
    "get_indicator": "tenas_automl.indicators",
    "load_data": "tenas_automl.data",
    "ScoringConfig": "tenas_automl.config",
    "score_model": "tenas_automl.model_scoring",
}

__all__ = [
    "CachedEvaluator",
    "ScoreCache",
    "ScoreResult",
    "ScoringConfig",
    "SearchResult",
    "TenasError",
    "__version__",
    "evaluate",
    "get_indicator",
    "get_space",
    "get_strategy",
    "list_indicators",
    "load_data",
    "score",
    "score_many",
    "score_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tenas_automl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
