"""The search-strategy protocol: a small ABC and the result it returns.

Like an Optuna sampler or an NNI strategy, a :class:`SearchStrategy` holds its
settings and a seed; :meth:`SearchStrategy.search` runs one search on a space
and returns a :class:`SearchResult`. Subclasses implement :meth:`_search` (and
:meth:`_fallback` for an interrupted run); the base class owns timing,
seeding, progress reporting, the indicator evaluator and Ctrl-C handling.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from tenas_automl.config import ConfigSettings, ScoringConfig, scoring_config
from tenas_automl.errors import TenasError
from tenas_automl.scoring import ProgressFn
from tenas_automl.spaces.base import Mask, Space

logger = logging.getLogger(__name__)


class Evaluator(Protocol):
    """The signature of :func:`tenas_automl.indicators.evaluate`."""

    def __call__(self, space: Space, masks: Sequence[Mask], names: Sequence[str], **kwargs: Any) -> dict[str, np.ndarray]: ...


class SearchSettingError(TenasError, ValueError):
    """A bad strategy setting (budget, population size, ...)."""


def default_evaluator(space: Space, masks: Sequence[Mask], names: Sequence[str], **kwargs: Any) -> dict[str, np.ndarray]:
    """:func:`tenas_automl.indicators.evaluate`, imported on first use."""
    from tenas_automl.indicators import evaluate

    return evaluate(space, masks, names, **kwargs)


@dataclass
class SearchResult:
    """What one search found, how, and at what cost."""

    space: str
    strategy: str
    arch: Hashable
    arch_str: str
    #: Indicator values of ``arch`` scored as a single architecture (NaN: not scored).
    indicators: dict[str, float]
    #: Per round (prune) or per visited architecture (evolution, random: ``step``,
    #: ``arch``, its indicator values, ``revisit`` (already scored in this search,
    #: so no new evaluation; the score cache's reuse is the run JSON's ``cache``) and
    #: ``best``, the best architecture so far).
    history: list[dict[str, Any]]
    #: Distinct candidate scorings (prune: sub-masks; evolution/random: architectures).
    evaluations: int
    seconds: float
    seed: int
    dataset: str
    interrupted: bool = False
    #: The settings the search ran with (:meth:`SearchStrategy.recipe`).
    recipe: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``arch`` as its string; non-finite numbers as None)."""
        return {
            "space": self.space,
            "strategy": self.strategy,
            "dataset": self.dataset,
            "seed": self.seed,
            "arch": self.arch_str,
            "indicators": {k: _json_float(v) for k, v in self.indicators.items()},
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "interrupted": self.interrupted,
            "recipe": _jsonable(self.recipe),
            "history": _jsonable(self.history),
        }


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return _json_float(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


@dataclass
class SearchState:
    """Mutable bookkeeping of one :meth:`SearchStrategy.search` call."""

    space: Space
    rng: np.random.Generator
    history: list[dict[str, Any]] = field(default_factory=list)
    evaluations: int = 0
    #: Best architecture so far and its values, kept current for Ctrl-C.
    best: Hashable | None = None
    best_values: dict[str, float] | None = None
    #: Indicator values of every architecture scored in this search.
    scores: dict[Hashable, dict[str, float]] = field(default_factory=dict)
    #: Architectures visited so far, in order (a dict as an ordered set).
    seen: dict[Hashable, None] = field(default_factory=dict)


class SearchStrategy(ConfigSettings, ABC):
    """Base class of the training-free search strategies.

    Args:
        indicators: indicator names to optimise (default: the strategy's own).
            A combination (``ensemble``, ``az``, ...) is replaced by its
            members, and the strategies that rank whole architectures then
            rank by the combination's log-rank sum over their own pool.
        budget: strategy-specific cost limit (evolution/random: distinct
            architectures scored; ignored by prune).
        seed: seeds the strategy's ``numpy.random.Generator`` and the indicators.
        device, dataset, data_dir, mode, overrides: passed to the evaluator.
        config: all the scoring settings at once (a :class:`~tenas_automl.ScoringConfig`),
            instead of ``indicators``, ``seed`` and the arguments above.
        evaluator: a callable with the signature of
            :func:`tenas_automl.indicators.evaluate` (default: that function).
        progress: ``progress(done, total, info)`` after each batch of scorings.
        workers: CPU processes that share each batch of scorings (same
            results; passed to the evaluator only when > 1).
    """

    name: ClassVar[str]
    default_indicators: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        indicators: Sequence[str] | None = None,
        budget: int | None = None,
        seed: int = 0,
        device: str = "auto",
        dataset: str = "cifar10",
        data_dir: str | None = None,
        mode: str = "paper",
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        evaluator: Evaluator | None = None,
        progress: ProgressFn | None = None,
        workers: int = 1,
        *,
        config: ScoringConfig | None = None,
    ) -> None:
        config = scoring_config(
            config, indicators, self.default_indicators, seed=seed, device=device, dataset=dataset,
            data_dir=data_dir, mode=mode, overrides=overrides,
        )  # fmt: skip
        #: How every candidate is scored (indicators, seed, device, dataset, data, mode, overrides).
        self.config: ScoringConfig = config
        if budget is not None and (not isinstance(budget, (int, np.integer)) or budget < 1):
            raise SearchSettingError(f"budget must be a positive integer, got {budget!r}")
        self.budget = None if budget is None else int(budget)
        self.evaluator: Evaluator = evaluator or default_evaluator
        self.progress = progress
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise SearchSettingError(f"workers must be a positive integer, got {workers!r}")
        self.workers = int(workers)

    # -- the public entry ---------------------------------------------------
    def search(self, space: Space) -> SearchResult:
        """Search ``space``; on KeyboardInterrupt return the best so far, flagged."""
        start = time.perf_counter()
        state = SearchState(space=space, rng=np.random.default_rng(self.seed))
        interrupted = False
        try:
            arch, values = self._search(space, state)
        except KeyboardInterrupt:
            if state.evaluations:
                logger.warning("search interrupted; returning the best architecture so far")
            else:
                logger.warning(
                    "search interrupted before any architecture was scored; "
                    "the architecture returned is a placeholder, not a search result"
                )
            interrupted = True
            arch, values = self._fallback(space, state)
        return SearchResult(
            space=space.name,
            strategy=self.name,
            arch=arch,
            arch_str=space.format(arch),
            indicators={n: float(values.get(n, math.nan)) for n in self.indicators},
            history=state.history,
            evaluations=state.evaluations,
            seconds=time.perf_counter() - start,
            seed=self.seed,
            dataset=self.dataset,
            interrupted=interrupted,
            recipe=self.recipe(),
        )

    def recipe(self) -> dict[str, Any]:
        """The settings that decide what this search does (subclasses add theirs)."""
        out: dict[str, Any] = {"strategy": self.name, "indicators": list(self.indicators)}
        if self.combinations:
            out["ranking"] = list(self.combinations)
        out.update(budget=self.budget, mode=self.mode, dataset=self.dataset)
        if self.overrides:
            out["overrides"] = {k: dict(v) for k, v in self.overrides.items()}
        return out

    # -- subclass hooks -----------------------------------------------------
    @abstractmethod
    def _search(self, space: Space, state: SearchState) -> tuple[Hashable, dict[str, float]]:
        """Run the search; return the chosen architecture and its indicator values."""

    def _fallback(self, space: Space, state: SearchState) -> tuple[Hashable, dict[str, float]]:
        """A valid answer after Ctrl-C: the best so far, else a sampled architecture."""
        if state.best is not None:
            return state.best, dict(state.best_values or {})
        return space.sample(np.random.default_rng(self.seed)), {}

    # -- helpers for subclasses ---------------------------------------------
    def _evaluate(
        self,
        space: Space,
        masks: Sequence[Mask],
        *,
        seed: int | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        names: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Score ``masks`` with every indicator (or ``names``); one float array per indicator.

        ``seed`` and ``overrides`` default to the strategy's own.
        """
        names = list(self.indicators if names is None else names)
        kwargs = self.config.evaluate_kwargs()
        if seed is not None:
            kwargs["seed"] = seed
        if overrides is not None:
            kwargs["overrides"] = overrides
        if self.workers > 1:
            kwargs["workers"] = self.workers
        raw = self.evaluator(space, list(masks), names, **kwargs)
        out = {n: np.asarray(raw[n], dtype=float).reshape(-1) for n in names}
        for n, v in out.items():
            if v.shape[0] != len(masks):
                raise RuntimeError(f"evaluator returned {v.shape[0]} values of {n!r} for {len(masks)} masks")
        return out

    def _pool_goodness(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """How good each of ``rows`` (indicator values) is within that pool; higher is better.

        With a combination named, its log-rank sum over the pool (with several
        combinations or extra indicators, one log-rank sum over all of them,
        weighted as the combinations say); otherwise minus TEG-NAS's rank sum, each rank the number of
        strictly better values ("min" ranking). Non-finite values rank last.
        """
        from tenas_automl.indicators.combinations import pool_ranking

        return -pool_ranking(self._columns(rows), self.higher_is_better, self.combinations, method="min")

    def _columns(self, rows: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
        """Each indicator's values over ``rows``."""
        return {n: np.array([r[n] for r in rows], dtype=float) for n in self.indicators}

    def _report(self, done: int, total: int, info: str = "") -> None:
        if self.progress is not None:
            self.progress(done, total, info)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(indicators={self.indicators}, budget={self.budget}, seed={self.seed})"
