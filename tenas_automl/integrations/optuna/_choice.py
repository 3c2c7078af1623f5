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
from collections.abc import Hashable
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection

from tenas_automl.integrations.optuna._params import ArchCodec
from tenas_automl.integrations.optuna._scores import TrialScorer
from tenas_automl.integrations.optuna._view import Key, _View
from tenas_automl.spaces import Space
from tenas_automl.strategies.selection import distinct_draws, pick_best, tournament
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

    def _best_of(
        self, candidates: list[Hashable], rng: np.random.Generator, origin: str, model: AdditiveModel | None = None
    ) -> tuple[Hashable, str]:
        """The candidate with the smallest indicator rank sum (ties: the first drawn).

        With a ``model`` of the objective, the smallest sum of the indicator
        rank and ``surrogate_weight`` times the model's rank (average ranks,
        so a model with no opinion leaves the indicators' choice).
        """
        if not candidates:
            # Every architecture is taken (tiny space or huge study): allow a repeat.
            logger.warning("no untried architecture left; proposing a random one")
            return self.space.sample(rng), "repeat"
        values = self.scorer.scores(candidates)
        predicted = None if model is None else model.predict([self.codec.key(c) for c in candidates])
        best = pick_best(
            self.scorer.columns(values), self.scorer.higher_is_better, self.scorer.combinations, method="average",
            predicted=predicted, weight=self.surrogate_weight,
        )  # fmt: skip
        return candidates[best], origin

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
            population = sorted(view.completed)[-self.population_size :]
            sign = _sign(study)
            # Ties go to the earlier trial.
            return max(self._tournament(population, rng), key=lambda t: (sign * t[2], -t[0]))[1]
        if len(view.scored) >= need:
            entrants = self._tournament(sorted(view.scored)[-self.population_size :], rng)
            ranks = self.scorer.combined_rank([t[2] for t in entrants])
            return entrants[int(np.argmin(ranks))][1]
        return None

    def _tournament(self, population: list[Any], rng: np.random.Generator) -> list[Any]:
        """``tournament_size`` distinct members of ``population``, in population order."""
        return [population[int(i)] for i in sorted(tournament(rng, len(population), self.tournament_size))]

    def _best_completed(self, study: optuna.Study, view: _View) -> Key | None:
        if not view.completed:
            return None
        sign = _sign(study)
        return max(view.completed, key=lambda t: (sign * t[2], -t[0]))[1]

    def _neighbours(self, arch: Hashable, view: _View, rng: np.random.Generator) -> list[Hashable]:
        """Up to ``candidates`` distinct untried mutations; further steps, then random, if short."""
        n = self.candidates
        frontier = [arch]
        for _ in range(3):
            out = distinct_draws(
                lambda f=frontier: self.space.mutate(f[int(rng.integers(len(f)))], rng), n, tries=20 * n,
                key=self.codec.key, accept=lambda a: self.codec.key(a) not in view.taken,
            )  # fmt: skip
            if out:
                return out
            # All close neighbours are taken: walk one step further out.
            frontier = [self.space.mutate(a, rng) for a in frontier for _ in range(4)]
        return self._random_untaken(view, rng, self.candidates)

    def _random_untaken(self, view: _View, rng: np.random.Generator, n: int) -> list[Hashable]:
        return distinct_draws(
            lambda: self.space.sample(rng), n, tries=50 * n, key=self.codec.key,
            accept=lambda a: self.codec.key(a) not in view.taken,
        )  # fmt: skip


__all__ = ["CandidateChooser"]
