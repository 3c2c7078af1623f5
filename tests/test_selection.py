"""The search steps shared by every strategy and adapter (tenas_automl.strategies.selection)."""

from __future__ import annotations

import math

import numpy as np

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
