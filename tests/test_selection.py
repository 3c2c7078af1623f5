"""The search steps shared by every strategy and adapter (tenas_automl.strategies.selection)."""

from __future__ import annotations

import math

import numpy as np

from tenas_automl.strategies.guided import GuidedEvolution, LocalSearch, Measured, fresh_mutations, fresh_samples
from tenas_automl.strategies.selection import distinct_draws, pick_best, tournament


def test_distinct_draws_keeps_the_first_of_each_key_and_stops_as_documented() -> None:
    values = iter([1, 1, 2, 3, 4, 5])
    assert distinct_draws(lambda: next(values), 3, tries=10) == [1, 2, 3]
    assert next(values) == 4  # it stopped drawing once it had three

    values = iter([1, 2])
    assert distinct_draws(lambda: next(values, None), 5, tries=10) == [1, 2]  # None: nothing left

    calls = []
    assert distinct_draws(lambda: calls.append(0) or 7, 3, tries=4) == [7] and len(calls) == 4  # tries bound the draws

    words = iter(["apple", "avocado", "banana", "blueberry", "cherry"])
    picked = distinct_draws(lambda: next(words, None), 5, tries=9, key=lambda w: w[0], accept=lambda w: w != "cherry")
    assert picked == ["apple", "banana"]


def test_tournament_draws_distinct_entrants() -> None:
    pick = tournament(np.random.default_rng(1), 10, 4)
    assert len(pick) == 4 and len(set(pick.tolist())) == 4 and all(0 <= i < 10 for i in pick)
    assert sorted(tournament(np.random.default_rng(1), 3, 8).tolist()) == [0, 1, 2]  # capped at the population


def test_pick_best_by_rank_sum_model_and_non_finite_values() -> None:
    cols = {"lr": [10.0, 30.0, 20.0], "ntk": [50.0, 40.0, 10.0]}  # lr higher is better, ntk lower
    directions = {"lr": True, "ntk": False}
    # rank sums (min ranks: strictly better values): a 2+2, b 0+1, c 1+0 -> b and c tie; the first wins
    assert pick_best(cols, directions) == 1
    # A model of the objective that prefers c breaks the tie.
    assert pick_best(cols, directions, predicted=[0.0, 0.0, 1.0], weight=0.5) == 2
    # A non-finite value ranks last.
    assert pick_best({"lr": [math.nan, 1.0, 2.0]}, {"lr": True}) == 2


# -- the ask/tell searches under the integrations (tenas_automl.strategies.guided) --------------
class Line:
    """Architectures 0..size-1 on a line: a mutation moves one step left or right."""

    def __init__(self, size: int, tried: set[int] | None = None) -> None:
        self.size, self.tried = size, set(tried or ())

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.size))

    def mutate(self, arch: int, rng: np.random.Generator) -> int:
        return min(self.size - 1, max(0, arch + (1 if rng.random() < 0.5 else -1)))

    def key(self, arch: int) -> int:
        return arch

    def is_fresh(self, arch: int) -> bool:
        return arch not in self.tried


def test_guided_evolution_parent_is_the_best_of_its_tournament_in_the_aging_window() -> None:
    search = GuidedEvolution(population_size=3, tournament_size=3, candidates=2)
    assert search.parent(np.random.default_rng(0)) is None  # nothing measured yet
    for arch, value in [(0, 9.0), (1, 1.0), (2, math.nan), (3, 5.0), (4, 5.0)]:
        search.tell(arch, value)
    assert [m.arch for m in search.history] == [0, 1, 3, 4]  # NaN left out
    # The window is the last three told (0 has aged out); 3 and 4 tie: the earlier wins.
    assert search.parent(np.random.default_rng(0)) == Measured(3, 5.0)
    # A tournament of one is a uniform draw from the window.
    single = GuidedEvolution(population_size=3, tournament_size=1, candidates=2)
    for m in search.history:
        single.tell(m.arch, m.value)
    assert {single.parent(np.random.default_rng(s)).arch for s in range(30)} == {1, 3, 4}  # type: ignore[union-attr]


def test_guided_evolution_asks_for_the_ranked_best_fresh_child_of_the_parent() -> None:
    source = Line(100, tried={50})
    search = GuidedEvolution(population_size=4, tournament_size=1, candidates=2)
    search.tell(50, 1.0)
    kids = search.children(source, 50, np.random.default_rng(0))
    assert sorted(kids) == [49, 51]  # both neighbours, distinct and untried
    assert search.ask(source, np.random.default_rng(0), rank=lambda archs: int(np.argmax(archs))) == 51


def test_fresh_mutations_walk_further_out_then_samples_and_listing_fill_in() -> None:
    rng = np.random.default_rng(3)
    source = Line(100, tried={49, 50, 51})
    assert fresh_mutations(source, 50, 2, rng, tries=40) == []  # every neighbour is taken
    walked = fresh_mutations(source, 50, 2, rng, tries=40, walk=1)
    assert walked and set(walked) <= {48, 52}  # two steps out
    # Uniform draws that keep hitting tried architectures: the listing of the space makes up for them.
    small = Line(4, tried={0, 1, 2})
    assert fresh_samples(small, 2, rng, tries=0) == []
    assert fresh_samples(small, 2, rng, tries=0, listed=range(4)) == [3]
    # With nothing fresh near the parent, children are uniform draws.
    kids = GuidedEvolution(population_size=2, tournament_size=1, candidates=3).children(source, 50, rng)
    assert len(kids) == 3 and not set(kids) & source.tried


def test_local_search_moves_to_the_next_best_when_a_neighbourhood_is_used_up() -> None:
    source = Line(10)
    search = LocalSearch(start=5)

    def neighbours(arch: int) -> list[int]:
        return [a for a in (arch - 1, arch + 1) if 0 <= a < 10 and source.is_fresh(a)]

    def lowest(archs: list[int]) -> int:
        return int(np.argmin(archs))

    assert search.ask(neighbours, lowest) == 4  # nothing measured: around the start
    for arch, value in [(5, 1.0), (2, 3.0), (8, 2.0)]:
        search.tell(arch, value)
        source.tried.add(arch)
    assert search.ask(neighbours, lowest) == 1  # around 2, the best measured
    source.tried |= {1, 3}
    assert search.ask(neighbours, lowest) == 7  # 2's neighbourhood is used up: around 8, the next best
    source.tried |= {4, 6, 7, 9}
    assert search.ask(neighbours, lowest, also=[1]) == 0  # then around what is still training
    source.tried.add(0)
    assert search.ask(neighbours, lowest, also=[1]) is None
