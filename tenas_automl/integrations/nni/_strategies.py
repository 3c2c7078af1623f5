"""NNI 3.0 multi-trial strategies that screen architectures without training.

Both strategies score candidates themselves with training-free indicators and
submit to NNI's execution engine only the few architectures worth training
(``budget``). They learn from the metrics the engine returns, so they work
with any evaluator: a real training loop, the NAS-Bench-201 table
(:func:`benchmark_evaluator`), or the indicators themselves
(:func:`training_free_evaluator`).

* :class:`TENASPruningStrategy` runs TE-NAS pruning on our supernet and
  submits its result first; then, around the best-trained architecture so far,
  the untried neighbour (one op changed, or for DARTS one input moved) with the
  best indicator rank sum, adjusted once two models are trained by a ridge
  model of the returned metrics (``surrogate_weight``).
* :class:`IndicatorEvolutionStrategy` screens a random sample by indicators and
  submits its best ones; then runs aging evolution on the returned metrics,
  where each child is the best-scored of several mutants of the tournament
  winner.

Their whole state is plain JSON (``state_dict``), so an NNI experiment resumes
where it stopped without re-submitting anything trained.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from tenas_automl._compat import renamed
from tenas_automl.indicators import pool_ranking
from tenas_automl.integrations.nni._strategy_base import (
    StrategySettingError,
    _positive,
    _TrainingFreeStrategy,
)
from tenas_automl.strategies.guided import GuidedEvolution, LocalSearch
from tenas_automl.strategies.selection import distinct_draws
from tenas_automl.strategies.surrogate import check_weight

logger = logging.getLogger(__name__)


class TENASPruningStrategy(_TrainingFreeStrategy):
    """TE-NAS supernet pruning as an NNI strategy, then indicator-guided local search.

    The pruning search runs once, training-free, on our supernet of the space
    (NNI's NasBench201 or DARTS hub space, detected from its labels); its
    result is the first model submitted. Each further submission is, among
    the untried neighbours of the best model trained so far (the pruning
    result until a better one comes back), the one with the best rank sum of
    the indicators; when a model's neighbourhood is used up, the next best
    model's is used. Once two models are trained, the neighbours are ranked
    by the indicators' rank sum plus ``surrogate_weight`` times their rank
    under a ridge model of the returned metrics on the one-hot ops
    (:mod:`tenas_automl.strategies.surrogate`): an edit that cost accuracy
    once is not tried again on the neighbouring cell.

    Args:
        indicators: indicator names (TE-NAS: ``ntk`` and ``lr``).
        budget: models to submit; None submits until the engine's budget
            (``max_trial_number``) is spent.
        seed: seeds the pruning and the indicators.
        dataset, data_dir, device, mode, overrides: as for
            :func:`tenas_automl.indicators.evaluate`.
        precision: significant figures of the pruning's relative changes.
        space: ``"nb201"``/``"darts"`` to insist on a space instead of detecting it.
        surrogate_weight: weight of the metric model's rank beside the
            indicators' (0 = indicators only; the Optuna sampler's default
            0.5 lets it break the indicators' near-ties).
        config: the indicators and their settings as one
            :class:`~tenas_automl.ScoringConfig`, instead of ``indicators``,
            ``seed`` and the evaluation arguments.
    """

    def __init__(
        self,
        indicators: Sequence[str] | None = None,
        *,
        precision: int = 3,
        surrogate_weight: float = 0.5,
        **settings: Any,
    ) -> None:
        super().__init__(indicators, **settings)
        self.precision = int(precision)
        self.surrogate_weight = check_weight(surrogate_weight, StrategySettingError)
        self._origin: Hashable | None = None
        self.prune_result: dict[str, Any] | None = None

    _needs_space = (
        "TENASPruningStrategy prunes a supernet, so it needs NNI's NasBench201 or DARTS hub space; "
        "for another model space use IndicatorEvolutionStrategy with model-agnostic indicators"
    )

    def _prepare(self) -> None:
        if self._origin is not None:
            return
        from tenas_automl.strategies import get_strategy
        from tenas_automl.strategies.prune import pruning_progress

        codec = self._require_codec()
        assert codec.space is not None
        result = get_strategy(
            "prune", config=self.config, precision=self.precision,
            progress=None if self.progress is None else pruning_progress(self._show_pruning),
        ).search(codec.space)  # fmt: skip
        self._origin = result.arch
        self._scores.setdefault(result.arch, {n: float(v) for n, v in result.indicators.items()})
        self.prune_result = {
            "arch": result.arch_str, "indicators": result.indicators,
            "evaluations": result.evaluations, "seconds": result.seconds,
        }  # fmt: skip
        logger.info("TE-NAS pruning found %s in %.1f s", result.arch_str, result.seconds)

    def _show_pruning(self, text: str) -> None:
        if self.progress is not None:
            self.progress(0, self.budget or 0, text)

    def _next(self) -> Hashable | None:
        codec = self._require_codec()
        with self._lock:
            if not self._trials:
                return self._origin
            tried = set(self._archs)
            search = LocalSearch(self._origin)
            for arch, trial in zip(self._archs, self._trials):
                if trial.status == "trained":
                    search.tell(arch, trial.metric)  # type: ignore[arg-type]
            running = [a for a, t in zip(self._archs, self._trials) if t.status == "running"]
        model = self._metric_model()
        return search.ask(
            lambda centre: [a for a in codec.neighbours(centre) if a not in tried],
            lambda candidates: self._best_by_indicators(candidates, model), also=running,
        )  # fmt: skip

    def _extra_state(self) -> dict[str, Any]:
        codec = self._require_codec()
        origin = None if self._origin is None else codec.to_sample(self._origin)
        return {"origin": origin, "prune_result": self.prune_result}

    def _load_extra(self, state: Mapping[str, Any]) -> None:
        codec = self._require_codec()
        self._origin = None if state.get("origin") is None else codec.from_sample(state["origin"])
        self.prune_result = state.get("prune_result")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", precision={self.precision}, surrogate_weight={self.surrogate_weight}"


class IndicatorEvolutionStrategy(_TrainingFreeStrategy):
    """Aging evolution on returned metrics whose children are screened by indicators.

    First ``screen_size`` random architectures are scored and the ``initial``
    best by rank sum are submitted. Then, for every further submission, a
    tournament of ``tournament_size`` among the last ``population_size``
    trained models picks the parent with the best metric; ``candidates``
    distinct untried mutants of it are scored, and the best by rank sum is
    submitted. Works on NNI's NasBench201 and DARTS hub spaces (our
    supernets) and on any other NNI model space (frozen models scored with
    ``ntk``, ``naswot`` or the baselines).

    Args:
        indicators: indicator names (default ``ntk``, ``lr``; for a custom
            model space e.g. ``ntk``, ``naswot``).
        budget: models to submit; None submits until the engine's budget is spent.
        population_size, tournament_size: aging evolution over trained models.
        screen_size: random architectures scored before the first submission.
        candidates: mutants scored per submission after the initial ones
            (formerly ``children``).
        initial: models submitted from the screening (default: a quarter of
            ``budget``, at least 1; 5 without a budget).
        seed, dataset, data_dir, device, mode, overrides, space, config
            (keywords): as for :class:`TENASPruningStrategy`.
    """

    def __init__(
        self,
        indicators: Sequence[str] | None = None,
        *,
        budget: int | None = None,
        population_size: int = 10,
        tournament_size: int = 3,
        screen_size: int = 64,
        candidates: int | None = None,
        initial: int | None = None,
        children: int | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(indicators, budget=budget, **settings)
        candidates = renamed("IndicatorEvolutionStrategy", "candidates", candidates, "children", children, 8)
        self.population_size = _positive("population_size", population_size)
        self.tournament_size = _positive("tournament_size", tournament_size)
        if self.tournament_size > self.population_size:  # type: ignore[operator]
            raise StrategySettingError(f"tournament_size={tournament_size} must not exceed population_size={population_size}")
        self.screen_size = _positive("screen_size", screen_size)
        self.candidates = _positive("candidates", candidates)
        default_initial = max(1, (self.budget or 20) // 4)
        self.initial = _positive("initial", initial if initial is not None else default_initial)
        self._pool: list[Hashable] | None = None

    @property
    def children(self) -> int:
        """Former name of :attr:`candidates`."""
        return int(self.candidates)  # type: ignore[arg-type]

    def _prepare(self) -> None:
        if self._pool is not None:
            return
        codec = self._require_codec()
        n = int(self.screen_size)  # type: ignore[arg-type]
        draws = distinct_draws(lambda: codec.random(self._rng), n, tries=20 * n)
        rows = self._score(draws)
        cols = {n: np.array([r[n] for r in rows]) for n in self.indicators}
        order = np.argsort(pool_ranking(cols, self.higher_is_better, self.combinations), kind="stable")
        self._pool = [draws[i] for i in order[: self.initial]]
        logger.info("screened %d random architectures; submitting the best %d first", len(draws), len(self._pool))

    def _next(self) -> Hashable | None:
        codec = self._require_codec()
        assert self._pool is not None
        with self._lock:
            tried = set(self._archs)
            for arch in self._pool:
                if arch not in tried:
                    return arch
            search = GuidedEvolution(
                population_size=int(self.population_size), tournament_size=int(self.tournament_size),  # type: ignore[arg-type]
                candidates=int(self.candidates),  # type: ignore[arg-type]
            )  # fmt: skip
            for arch, trial in zip(self._archs, self._trials):
                if trial.status == "trained":
                    search.tell(arch, trial.metric)  # type: ignore[arg-type]
            parent = search.parent(self._rng)
            if parent is not None:
                centre = parent.arch
            else:  # nothing trained yet (concurrent engines): best screened so far
                centre = self._archs[self._best_by_indicators(self._archs)] if self._archs else self._pool[0]
        kids = search.children(_Untried(codec, tried), centre, self._rng)
        return kids[self._best_by_indicators(kids)] if kids else None

    def _extra_state(self) -> dict[str, Any]:
        codec = self._require_codec()
        return {"pool": None if self._pool is None else [codec.to_sample(a) for a in self._pool]}

    def _load_extra(self, state: Mapping[str, Any]) -> None:
        codec = self._require_codec()
        pool = state.get("pool")
        self._pool = None if pool is None else [codec.from_sample(s) for s in pool]

    def extra_repr(self) -> str:
        return (
            super().extra_repr() + f", population_size={self.population_size}, tournament_size={self.tournament_size}, "
            f"screen_size={self.screen_size}, candidates={self.candidates}, initial={self.initial}"
        )


class _Untried:
    """The codec's draws, with every architecture submitted so far taken (a :class:`CandidateSource`)."""

    def __init__(self, codec: Any, tried: set[Hashable]) -> None:
        self.codec, self.tried = codec, tried

    def sample(self, rng: np.random.Generator) -> Hashable:
        return self.codec.random(rng)  # type: ignore[no-any-return]

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        return self.codec.mutate(arch, rng)  # type: ignore[no-any-return]

    def key(self, arch: Hashable) -> Hashable:
        return arch

    def is_fresh(self, arch: Hashable) -> bool:
        return arch not in self.tried
