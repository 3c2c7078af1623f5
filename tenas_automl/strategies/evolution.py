"""Strategies that score whole architectures: regularised evolution and random.

* ``evolution`` -- TEG-NAS's aging evolution (Real et al. 2019, as in
  ``R_EA.py`` of VITA-Group/TEGNAS): a population of random architectures; each
  step draws a tournament without replacement, takes the member with the
  smallest rank sum over the indicators *within the tournament* as parent,
  adds a one-op mutation of it and removes the oldest member. The answer is
  the architecture with the smallest rank sum over everything scored (the
  official script picks from the final population instead).
* ``random`` -- NASWOT's search: draw ``budget`` architectures uniformly with
  replacement and keep the best by rank sum (with one indicator: the argmax).

Both cache every architecture's values within a search: a revisit is free and
not counted, so ``budget`` is the number of *distinct* architectures scored.
Batches of independent draws (the initial population, random search) are
scored together; the results do not depend on ``batch_size`` provided the
evaluator scores each architecture independently of its batch-mates.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from tenas_automl.errors import check_choice
from tenas_automl.spaces.base import Space
from tenas_automl.strategies.base import SearchSettingError, SearchState, SearchStrategy
from tenas_automl.strategies.selection import pick_best, tournament

logger = logging.getLogger(__name__)

#: Population size, tournament size and budget. ``paper`` is TEG-NAS's setting;
#: ``fast`` scores 10x fewer architectures. With the paper's indicator settings
#: one NB201 architecture costs ~10-20 s of ntk + gen on one CPU thread.
EVOLUTION_PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"population_size": 20, "tournament_size": 5, "budget": 100},
    "paper": {"population_size": 256, "tournament_size": 64, "budget": 1000},
    # The library's recommended search: the ``ensemble`` ranking over the
    # search's own pool, children scored in parallel batches.
    "best": {"population_size": 24, "tournament_size": 6, "budget": 90, "children": 4, "indicators": ("ensemble",)},
}


class _ArchScoringStrategy(SearchStrategy):
    """Shared machinery: batched scoring into the search's state, best by rank sum.

    What a search has scored lives on its :class:`SearchState`, not on the
    instance, so searches never share it (one after the other or in threads).
    """

    def __init__(self, *, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if batch_size < 1:
            raise SearchSettingError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)

    def _effective_budget(self, space: Space, default: int) -> int:
        budget = self.budget if self.budget is not None else default
        size = space.size()
        return budget if size is None else min(budget, size)

    def _visit(self, space: Space, state: SearchState, archs: Sequence[Hashable], total: int) -> None:
        """Score, log and report ``archs`` (in order), ``batch_size`` draws per evaluator call."""
        for start in range(0, len(archs), self.batch_size):
            chunk = archs[start : start + self.batch_size]
            new = list(dict.fromkeys(a for a in chunk if a not in state.scores))
            if new:
                values = self._evaluate(space, [space.arch_to_mask(a) for a in new])
                for i, arch in enumerate(new):
                    state.scores[arch] = {n: float(v[i]) for n, v in values.items()}
            for arch in chunk:
                self._record(space, state, arch)
            state.evaluations = len(state.scores)
            self._report(state.evaluations, total, f"best {self._short(space, state.best)}")

    def _argbest(self, rows: Sequence[dict[str, float]]) -> int:
        """Index of the best row within ``rows`` (see :meth:`_pool_goodness`); ties go to the earliest."""
        return pick_best(self._columns(rows), self.higher_is_better, self.combinations)

    def _record(self, space: Space, state: SearchState, arch: Hashable) -> None:
        """Log one visit; "best" is over what was scored up to it, so the history
        does not depend on how the scoring was batched."""
        revisit = arch in state.seen  # scored earlier in this search: no new evaluation
        if not revisit:
            state.seen[arch] = None
            rows = [state.scores[a] for a in state.seen]
            state.best = list(state.seen)[self._argbest(rows)]
            state.best_values = state.scores[state.best]
        state.history.append(
            {
                "step": len(state.history),
                "arch": space.format(arch),
                **state.scores[arch],
                "revisit": revisit,
                "best": space.format(state.best),
            }
        )

    @staticmethod
    def _short(space: Space, arch: Hashable | None) -> str:
        text = "-" if arch is None else space.format(arch)
        return text if len(text) <= 40 else text[:37] + "..."


class RegularizedEvolution(_ArchScoringStrategy):
    """TEG-NAS aging evolution driven by indicator rank sums.

    Args:
        preset: ``"fast"`` (population 20, tournament 5, budget 100) or
            ``"paper"`` (256, 64, 1000); explicit arguments override it.
        population_size, tournament_size: aging-evolution sizes.
        children: mutants per step, each of its own tournament's parent,
            scored together (so ``workers`` share them); 1 is TEG-NAS's
            one child per step, and the same search as before.
        budget: distinct architectures to score (the initial population included).
        max_steps: safety stop for spaces where mutations keep revisiting
            cached architectures (default ``50 * budget``).
        batch_size: architectures per evaluator call for the initial population.
        **kwargs: see :class:`SearchStrategy`.
    """

    name = "evolution"
    #: TEG-NAS's three indicators: NTK condition number, linear regions, generalization.
    default_indicators = ("ntk", "lr", "gen")

    def __init__(
        self,
        *,
        preset: str = "fast",
        population_size: int | None = None,
        tournament_size: int | None = None,
        budget: int | None = None,
        max_steps: int | None = None,
        children: int | None = None,
        **kwargs: Any,
    ) -> None:
        check_choice("evolution preset", preset, EVOLUTION_PRESETS)
        p = EVOLUTION_PRESETS[preset]
        if "indicators" in p and kwargs.get("indicators") is None:
            kwargs["indicators"] = p["indicators"]
        super().__init__(budget=p["budget"] if budget is None else budget, **kwargs)
        self.preset = preset
        self.population_size = int(p["population_size"] if population_size is None else population_size)
        self.tournament_size = int(p["tournament_size"] if tournament_size is None else tournament_size)
        self.children = int(p.get("children", 1) if children is None else children)
        if self.children < 1:
            raise SearchSettingError(f"children must be a positive integer, got {self.children}")
        if not 1 <= self.tournament_size <= self.population_size:
            raise SearchSettingError(
                f"need 1 <= tournament_size <= population_size, got "
                f"tournament_size={self.tournament_size}, population_size={self.population_size}"
            )
        self.max_steps = max_steps

    def recipe(self) -> dict[str, Any]:
        return {
            **super().recipe(),
            "preset": self.preset,
            "population_size": self.population_size,
            "tournament_size": self.tournament_size,
            "children": self.children,
        }

    def _search(self, space: Space, state: SearchState) -> tuple[Hashable, dict[str, float]]:
        budget = self._effective_budget(space, EVOLUTION_PRESETS["fast"]["budget"])
        max_steps = self.max_steps if self.max_steps is not None else 50 * budget
        init = self._initial(space, state.rng, budget)
        state.best = init[0]
        self._visit(space, state, init, budget)
        population = deque(init)
        steps = 0
        while len(state.scores) < budget and steps < max_steps:
            batch = []
            for _ in range(min(self.children, budget - len(state.scores))):
                entrants = [population[i] for i in tournament(state.rng, len(population), self.tournament_size)]
                parent = entrants[self._argbest([state.scores[a] for a in entrants])]
                batch.append(space.mutate(parent, state.rng))
            self._visit(space, state, batch, budget)
            for child in batch:
                population.append(child)
                if len(population) > self.population_size:
                    population.popleft()
            steps += len(batch)
        if len(state.scores) < budget:
            logger.warning(
                "evolution stopped after %d steps with %d of %d architectures scored",
                steps,
                len(state.scores),
                budget,
            )
        assert state.best is not None
        return state.best, dict(state.scores[state.best])

    def _initial(self, space: Space, rng: np.random.Generator, budget: int) -> list[Hashable]:
        """Random members, stopping early once ``budget`` distinct ones are drawn."""
        init: list[Hashable] = []
        distinct: set[Hashable] = set()
        while len(init) < self.population_size and len(distinct) < budget:
            arch = space.sample(rng)
            init.append(arch)
            distinct.add(arch)
        return init


class RandomSearch(_ArchScoringStrategy):
    """NASWOT's search: the best of ``budget`` uniform draws (with replacement).

    Args:
        budget: number of draws (default 100; NASWOT reports 10, 100, 1000).
            Repeated draws are scored once, so ``evaluations`` can be smaller.
        batch_size: architectures per evaluator call.
        **kwargs: see :class:`SearchStrategy`.
    """

    name = "random"
    default_indicators = ("naswot",)
    default_budget = 100

    def _search(self, space: Space, state: SearchState) -> tuple[Hashable, dict[str, float]]:
        n = self.budget if self.budget is not None else self.default_budget
        draws = [space.sample(state.rng) for _ in range(n)]
        state.best = draws[0]
        self._visit(space, state, draws, len(set(draws)))
        assert state.best is not None
        return state.best, dict(state.scores[state.best])
