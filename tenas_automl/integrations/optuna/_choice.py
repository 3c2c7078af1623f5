"""How :class:`~tenas_automl.integrations.optuna.TrainingFreeSampler` chooses among candidates.

A tournament parent (by objective once enough trials completed, else by the
indicators), its untried neighbours (or fresh draws), and the one the
indicators rank best, weighed against an additive model of the objective
fitted to the completed trials. Framework-free steps come from
:mod:`tenas_automl.strategies.selection`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Sequence

import numpy as np
import optuna
from optuna.study import StudyDirection

from tenas_automl.integrations.optuna._params import ArchCodec
from tenas_automl.integrations.optuna._scores import TrialScorer
from tenas_automl.integrations.optuna._view import Key, _View
from tenas_automl.spaces import Space
from tenas_automl.strategies.guided import GuidedEvolution, LocalSearch, Rank, fresh_samples
from tenas_automl.strategies.selection import pick_best, tournament
from tenas_automl.strategies.surrogate import AdditiveModel, fit_additive

logger = logging.getLogger("tenas_automl.integrations.optuna._sampler")


def _sign(study: optuna.Study) -> float:
    """+1 for a maximised objective, -1 for a minimised one: ``sign * value`` is higher-is-better."""
    return 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0


class CandidateChooser:
    """The sampler's choice of candidates and among them (a mixin over its settings)."""

    space: Space
    codec: ArchCodec
    scorer: TrialScorer
    candidates: int
    n_startup_trials: int
    population_size: int
    tournament_size: int
    surrogate_weight: float
    strategy: str

    def _pruned_arch(self, study: optuna.Study) -> Hashable:
        raise NotImplementedError

    def _choose(self, study: optuna.Study, view: _View, rng: np.random.Generator) -> tuple[Hashable, str]:
        """The next architecture and how it was chosen (``tenas:origin``)."""
        if self.strategy == "prune":
            pruned = self._pruned_arch(study)
            if self.codec.key(pruned) not in view.taken:
                return pruned, "prune"
            return self._local_step(study, view, pruned, rng)
        parent = self._parent(study, view, rng)
        if parent is None:
            return self._best_of(self._random_untaken(view, rng, self.candidates), rng, "startup")
        candidates = self._neighbours(self.codec.arch_of_key(parent), view, rng)
        return self._best_of(candidates, rng, "mutation", self._model(study, view))

    def _best_of(
        self, candidates: list[Hashable], rng: np.random.Generator, origin: str, model: AdditiveModel | None = None
    ) -> tuple[Hashable, str]:
        """The candidate :meth:`_ranking` puts first, or a random repeat when there is none."""
        if not candidates:
            # Every architecture is taken (tiny space or huge study): allow a repeat.
            logger.warning("no untried architecture left; proposing a random one")
            return self.space.sample(rng), "repeat"
        return candidates[self._ranking(model)(candidates)], origin

    def _ranking(self, model: AdditiveModel | None) -> Rank:
        """The smallest indicator rank sum (ties: the first drawn); with a ``model`` of the objective, the
        smallest sum of the indicator rank and ``surrogate_weight`` times the model's rank (average ranks,
        so a model with no opinion leaves the indicators' choice)."""

        def rank(candidates: Sequence[Hashable]) -> int:
            values = self.scorer.scores(list(candidates))
            predicted = None if model is None else model.predict([self.codec.key(c) for c in candidates])
            return pick_best(
                self.scorer.columns(values), self.scorer.higher_is_better, self.scorer.combinations, method="average",
                predicted=predicted, weight=self.surrogate_weight,
            )  # fmt: skip

        return rank

    def _local_step(self, study: optuna.Study, view: _View, start: Hashable, rng: np.random.Generator) -> tuple[Hashable, str]:
        """The ranking's pick of the untried neighbours of the best completed trial (of ``start`` before any)."""
        sign, search = _sign(study), LocalSearch(self.codec.key(start))
        for _, key, value in sorted(view.completed):
            search.tell(key, sign * value)
        ranking = self._ranking(self._model(study, view))
        found = search.ask(lambda key: self._neighbours(self.codec.arch_of_key(key), view, rng), ranking)
        return self._best_of([], rng, "neighbour") if found is None else (found, "neighbour")

    def _model(self, study: optuna.Study, view: _View) -> AdditiveModel | None:
        """The additive model of the completed trials' objective (None when switched off)."""
        if self.surrogate_weight == 0:
            return None
        sign = _sign(study)
        rows = [(key, sign * value) for _, key, value in view.completed if math.isfinite(value)]
        return fit_additive([k for k, _ in rows], [v for _, v in rows])

    def _parent(self, study: optuna.Study, view: _View, rng: np.random.Generator) -> Key | None:
        """Tournament parent: by objective once enough trials completed, else by indicators."""
        need = max(1, self.n_startup_trials)
        if len(view.completed) >= need:
            sign = _sign(study)
            search = self._search()
            for _, key, value in sorted(view.completed):
                search.tell(key, sign * value)
            parent = search.parent(rng)
            return None if parent is None else parent.arch  # type: ignore[return-value]
        if len(view.scored) >= need:
            population = sorted(view.scored)[-self.population_size :]
            entrants = [population[int(i)] for i in sorted(tournament(rng, len(population), self.tournament_size))]
            ranks = self.scorer.combined_rank([t[2] for t in entrants])
            return entrants[int(np.argmin(ranks))][1]
        return None

    def _search(self) -> GuidedEvolution:
        return GuidedEvolution(
            population_size=self.population_size, tournament_size=self.tournament_size, candidates=self.candidates,
            sample_tries=50 * self.candidates, walk=2,
        )  # fmt: skip

    def _neighbours(self, arch: Hashable, view: _View, rng: np.random.Generator) -> list[Hashable]:
        """Up to ``candidates`` distinct untried mutations; further steps, then random, if short."""
        return self._search().children(_Untaken(self, view), arch, rng)

    def _random_untaken(self, view: _View, rng: np.random.Generator, n: int) -> list[Hashable]:
        return fresh_samples(_Untaken(self, view), n, rng, tries=50 * n)


class _Untaken:
    """The space's draws, with the study's taken architectures taken (a :class:`CandidateSource`)."""

    def __init__(self, chooser: CandidateChooser, view: _View) -> None:
        self.space, self.key, self.taken = chooser.space, chooser.codec.key, view.taken

    def sample(self, rng: np.random.Generator) -> Hashable:
        return self.space.sample(rng)

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        return self.space.mutate(arch, rng)

    def is_fresh(self, arch: Hashable) -> bool:
        return self.key(arch) not in self.taken


__all__ = ["CandidateChooser"]
