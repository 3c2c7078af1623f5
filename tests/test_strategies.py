"""Search strategies: structure (with a cheap deterministic evaluator) and the real thing.

The fake evaluator gives every (edge, op) a fixed weight and scores a mask by
the sum of its alive weights (``lr``, ``naswot``: the sum; ``ntk``, ``gen``:
100 / (1 + sum)). It depends only on the mask, like the real evaluator whose
supernet weights do not depend on the batch, and it counts how often each
mask was scored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from tenas_automl.errors import UnknownNameError
from tenas_automl.indicators import rank_sum
from tenas_automl.spaces import get_space
from tenas_automl.spaces.base import Mask, Space
from tenas_automl.strategies import (
    EVOLUTION_PRESETS,
    STRATEGIES,
    PruneStrategy,
    SearchSettingError,
    get_strategy,
)
from tenas_automl.strategies.ranking import dense_rank, round_sig

HIGHER = {"lr", "naswot"}


def _hash(edge: int, op: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{edge}/{op}".encode()).digest()[:4], "little")


def weight(
    edge: int,
    op: str,
    ops: Sequence[str] = (
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
        "max_pool_3x3",
    ),
) -> float:
    """1 + 5 * (rank of a hash among the ops): distinct enough to survive TE-NAS's rounding."""
    return 1.0 + 5.0 * sorted(ops, key=lambda o: _hash(edge, o)).index(op)


class FakeEvaluator:
    """Additive, batch-independent scores; counts scorings per mask and calls."""

    def __init__(self, nan_if: Callable[[Mask], bool] | None = None, interrupt_on_call: int | None = None) -> None:
        self.counts: Counter[Mask] = Counter()
        self.calls: list[int] = []
        self.kwargs: list[dict[str, Any]] = []
        self.nan_if = nan_if or (lambda mask: False)
        self.interrupt_on_call = interrupt_on_call

    def __call__(self, space: Space, masks: Sequence[Mask], names: Sequence[str], **kw: Any) -> dict[str, np.ndarray]:
        if self.interrupt_on_call is not None and len(self.calls) == self.interrupt_on_call:
            raise KeyboardInterrupt
        self.calls.append(len(masks))
        self.kwargs.append(kw)
        out: dict[str, list[float]] = {n: [] for n in names}
        for mask in masks:
            self.counts[mask] += 1
            s = sum(weight(e, op) for e, ops in enumerate(mask) for op in ops)
            for n in names:
                v = s if n in HIGHER else 100.0 / (1.0 + s)
                out[n].append(np.nan if self.nan_if(mask) else v)
        return {n: np.array(v) for n, v in out.items()}


@pytest.fixture(scope="module")
def nb201() -> Space:
    return get_space("nb201")


@pytest.fixture(scope="module")
def darts() -> Space:
    pytest.importorskip("tenas_automl.spaces.darts")
    return get_space("darts")


# -- rankings -------------------------------------------------------------------
def test_round_sig() -> None:
    assert round_sig(0.012345) == 0.0123
    assert round_sig(-1234.5) == -1230.0
    assert round_sig(0.0) == 0.0 and np.isnan(round_sig(np.nan))


def test_dense_rank_ties_and_nan() -> None:
    # 0.1234 and 0.1231 both round to 0.123 (3 decimals) and tie; NaN comes last.
    ranks, order = dense_rank(np.array([0.1234, 0.5, np.nan, 0.1231, -0.2]), descending=True)
    assert ranks.tolist() == [1, 0, 3, 1, 2]
    assert order.tolist() == [1, 0, 3, 4, 2]
    ranks, _ = dense_rank(np.array([0.1234, 0.5, np.nan, 0.1231, -0.2]), descending=False)
    assert ranks.tolist() == [1, 2, 3, 1, 0]


# -- construction -----------------------------------------------------------------
def test_get_strategy_and_bad_settings() -> None:
    assert STRATEGIES == ("prune", "evolution", "random")
    assert isinstance(get_strategy("prune"), PruneStrategy)
    with pytest.raises(UnknownNameError, match="strategy 'anneal'"):
        get_strategy("anneal")
    with pytest.raises(UnknownNameError):
        get_strategy("prune", indicators=("nope",))
    with pytest.raises(SearchSettingError, match="budget"):
        get_strategy("random", budget=0)
    with pytest.raises(SearchSettingError, match="tournament_size"):
        get_strategy("evolution", population_size=4, tournament_size=5)
    with pytest.raises(UnknownNameError):
        get_strategy("evolution", preset="huge")
    with pytest.raises(UnknownNameError, match="dataset"):
        get_strategy("prune", dataset="mnist")
    paper = get_strategy("evolution", preset="paper")
    assert (paper.population_size, paper.tournament_size, paper.budget) == (256, 64, 1000)
    assert EVOLUTION_PRESETS["fast"]["budget"] == get_strategy("evolution").budget


# -- prune -------------------------------------------------------------------------
def test_prune_nb201_structure(nb201: Space) -> None:
    fake, seen = FakeEvaluator(), []
    strategy = get_strategy("prune", evaluator=fake, progress=lambda d, t, i: seen.append((d, t)))
    result = strategy.search(nb201)
    mask = nb201.arch_to_mask(result.arch)
    assert all(len(ops) == 1 and ops[0] != "none" for ops in mask)
    # 3 rounds of 1 + 24, 1 + 18, 1 + 12 masks, each repeat of the paper
    # mode in a call of its own, then the final arch alone.
    assert fake.calls == [25] * 3 + [19] * 3 + [13] * 3 + [1]
    assert result.evaluations == 54 == strategy.planned_evaluations(nb201)
    assert [len(h["candidates"]) for h in result.history] == [24, 18, 12]
    for rnd, h in enumerate(result.history):
        assert all(len(ops) == 3 - rnd for ops in h["alive"].values())
        assert len(h["pruned"]) == 6
    assert seen[-1] == (54, 54)
    # The additive fake makes the heaviest op on each edge the most important.
    expected = tuple(max(nb201.full_mask()[e], key=lambda o: weight(e, o)) for e in range(6))
    assert mask == tuple((op,) for op in expected)
    assert result.indicators["lr"] == pytest.approx(sum(weight(e, o) for e, o in enumerate(expected)))
    json.dumps(result.to_dict())


def test_prune_paper_settings_reach_the_rounds_only(nb201: Space) -> None:
    fake = FakeEvaluator()
    get_strategy("prune", evaluator=fake, overrides={"lr": {"repeats": 1}}, seed=7).search(nb201)
    rounds, final = fake.kwargs[:-1], fake.kwargs[-1]
    # TE-NAS's repeats: one network per round, new batches and crops, each
    # repeat scored on its own (lr has one repeat here, so one call).
    paper = {"ntk": {"resample": "data"}, "lr": {"resample": "data", "repeats": 1}}
    for i, k in enumerate(rounds):
        ntk = {"resample": "data", "repeats": 1, "first_repeat": i % 3}
        assert k["overrides"] == {**paper, "ntk": ntk}
    assert len({k["seed"] for k in rounds}) == 3  # fresh networks every round
    assert final["overrides"] == {"lr": {"repeats": 1}} and final["seed"] == 7
    fake = FakeEvaluator()
    get_strategy("prune", evaluator=fake, mode="clean").search(nb201)
    assert all(k["overrides"] is None and k["mode"] == "clean" for k in fake.kwargs)


def test_prune_per_candidate_draws_rescore_the_supernet_with_each_candidate(nb201: Space) -> None:
    common = get_strategy("prune", evaluator=FakeEvaluator()).search(nb201)
    fake = FakeEvaluator()
    result = get_strategy("prune", evaluator=fake, draws="per_candidate", seed=3).search(nb201)
    # 24 + 18 + 12 candidates, 3 repeats each of ntk and of lr, each a call
    # on (supernet, candidate); then the final arch alone.
    assert fake.calls == [2] * (54 * 6) + [1]
    rounds = fake.kwargs[:-1]
    # As the official code: the round's NTK network with new batches per
    # candidate and repeat; a new linear-region network per candidate.
    ntk = [k for k in rounds if "first_repeat" in k["overrides"]["ntk"]]
    assert len({k["seed"] for k in ntk}) == 3
    assert [k["overrides"]["ntk"]["first_repeat"] for k in ntk[:72]] == list(range(72))
    assert len({k["seed"] for k in rounds if k not in ntk}) == 54
    assert fake.counts[nb201.full_mask()] == 24 * 6
    assert result.evaluations == 54
    # The fake does not depend on the draw, so the decisions are the common ones.
    assert result.arch == common.arch
    with pytest.raises(UnknownNameError, match="prune draws"):
        get_strategy("prune", draws="shared")


class RepeatFake(FakeEvaluator):
    """The fake plus 40 per repeat index on ``ntk``: repeats differ in scale."""

    def __call__(self, space: Space, masks: Sequence[Mask], names: Sequence[str], **kw: Any) -> dict[str, np.ndarray]:
        out = super().__call__(space, masks, names, **kw)
        if "ntk" in out:
            out["ntk"] = out["ntk"] + 40.0 * (kw["overrides"] or {}).get("ntk", {}).get("first_repeat", 0)
        return out


def test_prune_paper_mode_averages_rounded_changes_per_repeat(nb201: Space) -> None:
    result = get_strategy("prune", indicators=("ntk",), evaluator=RepeatFake()).search(nb201)
    full = nb201.full_mask()
    for c in result.history[0]["candidates"]:
        e = nb201.edges.index(c["edge"])
        s_full = sum(weight(i, o) for i, ops in enumerate(full) for o in ops)
        s_cand = s_full - weight(e, c["op"])
        ref = [100 / (1 + s_full) + 40 * r for r in range(3)]
        cand = [100 / (1 + s_cand) + 40 * r for r in range(3)]
        # prune_tenas.py: round((ref - cand) / ref, 3) per repeat, then the mean.
        expected = np.mean([round((a - b) / a, 3) for a, b in zip(ref, cand)])
        assert c["delta_ntk"] == pytest.approx(expected, abs=1e-12)
        pooled = (np.mean(ref) - np.mean(cand)) / np.mean(ref)
        assert abs(expected - pooled) > 1e-4  # the two averages really differ here


def test_prune_fast_preset_shrinks_the_nb201_ntk_batch_and_user_overrides_win(nb201: Space) -> None:
    fake = FakeEvaluator()
    get_strategy("prune", evaluator=fake, preset="fast").search(nb201)
    one = {"resample": "data", "repeats": 1, "first_repeat": 0}
    assert fake.kwargs[0]["overrides"] == {"ntk": {**one, "batch_size": 32}, "lr": one}
    fake = FakeEvaluator()
    get_strategy("prune", evaluator=fake, preset="fast", mode="clean", overrides={"ntk": {"batch_size": 16}}).search(nb201)
    assert fake.kwargs[0]["overrides"] == {"ntk": {"batch_size": 16}}
    with pytest.raises(UnknownNameError, match="turbo"):
        get_strategy("prune", preset="turbo")


def test_prune_nan_ranks_least_prunable(nb201: Space, caplog: pytest.LogCaptureFixture) -> None:
    # Removing skip_connect from edge 0 gives NaN: it must be kept there.
    fake = FakeEvaluator(nan_if=lambda mask: "skip_connect" not in mask[0])
    with caplog.at_level(logging.WARNING):
        result = get_strategy("prune", indicators=("ntk",), evaluator=fake).search(nb201)
    assert nb201.arch_to_mask(result.arch)[0] == ("skip_connect",)
    assert "not finite" in caplog.text
    # NaN for every supernet makes every change NaN: all tie, still no crash.
    fake = FakeEvaluator(nan_if=lambda mask: any(len(ops) > 1 for ops in mask))
    result = get_strategy("prune", evaluator=fake).search(nb201)
    assert all(len(ops) == 1 for ops in nb201.arch_to_mask(result.arch))


def test_prune_darts_structure(darts: Space) -> None:
    fake = FakeEvaluator()
    strategy = get_strategy("prune", evaluator=fake)
    result = strategy.search(darts)
    mask = darts.arch_to_mask(result.arch)
    for group in darts.input_groups():
        kept = [e for e in group if mask[e]]
        assert len(kept) == darts.inputs_per_node
        assert all(len(mask[e]) == 1 and mask[e][0] != "none" for e in kept)
    assert result.evaluations == strategy.planned_evaluations(darts)
    assert darts.format(darts.parse(result.arch_str)) == result.arch_str
    ops_rounds = [h for h in result.history if h["phase"] == "ops"]
    assert len(ops_rounds) == 2  # 7 -> 4 -> 1 on CIFAR


# -- evolution and random --------------------------------------------------------------
def test_evolution_budget_and_cache(nb201: Space) -> None:
    fake = FakeEvaluator()
    result = get_strategy("evolution", indicators=("ntk", "lr"), budget=60, evaluator=fake, seed=3).search(nb201)
    assert result.evaluations == 60 == len(fake.counts)
    assert max(fake.counts.values()) == 1  # never re-scored
    archs = [h["arch"] for h in result.history]
    assert len(set(archs)) == 60
    assert sum(not h["revisit"] for h in result.history) == 60
    assert fake.calls[0] == len({a for a in archs[:20]})  # initial population in one call
    # The answer is the best rank sum over everything scored.
    first = {}
    for h in result.history:
        first.setdefault(h["arch"], h)
    rows = list(first.values())
    cols = {n: np.array([r[n] for r in rows]) for n in ("ntk", "lr")}
    best = rows[int(np.argmin(rank_sum(cols, {"ntk": False, "lr": True}, method="min")))]["arch"]
    assert result.arch_str == best == result.history[-1]["best"]


class NoisyFake(FakeEvaluator):
    """Each indicator an independent hash of the mask: rankings that disagree."""

    def __call__(self, space: Space, masks: Sequence[Mask], names: Sequence[str], **kw: Any) -> dict[str, np.ndarray]:
        self.calls.append(len(masks))
        for mask in masks:
            self.counts[mask] += 1
        return {n: np.array([_hash(0, f"{mask}/{n}") / 2**32 for mask in masks]) for n in names}


def test_evolution_with_a_combination_ranks_by_its_log_rank_sum_over_the_pool(nb201: Space) -> None:
    from tenas_automl.indicators import get_combination, higher_is_better

    combo = get_combination("ensemble")
    fake = NoisyFake()
    strategy = get_strategy("evolution", indicators=("ensemble",), budget=40, children=4, evaluator=fake, seed=0)
    assert strategy.indicators == combo.members and strategy.combinations == ("ensemble",)
    result = strategy.search(nb201)
    assert result.evaluations == 40 and max(fake.counts.values()) == 1
    assert fake.calls[0] == 20 and all(1 <= c <= 4 for c in fake.calls[1:]) and max(fake.calls[1:]) == 4
    first: dict[str, dict[str, Any]] = {}
    for h in result.history:
        first.setdefault(h["arch"], h)
    rows = list(first.values())
    cols = {n: np.array([r[n] for r in rows]) for n in combo.members}
    assert result.arch_str == rows[int(np.argmax(combo.combine(cols)))]["arch"]
    # On this pool TEG-NAS's rank sum would have picked another architecture.
    directions = {n: higher_is_better(n) for n in combo.members}
    assert result.arch_str != rows[int(np.argmin(rank_sum(cols, directions, method="min")))]["arch"]


def test_prune_with_a_combination_ranks_each_round_by_its_log_rank_sum(nb201: Space) -> None:
    from tenas_automl.indicators import get_combination

    combo = get_combination("ensemble")
    result = get_strategy("prune", indicators=("ensemble",), evaluator=NoisyFake(), seed=0, mode="clean").search(nb201)
    assert result.recipe["ranking"] == ["ensemble"] and result.recipe["indicators"] == list(combo.members)
    rounds = [h for h in result.history if "candidates" in h]
    assert [len(r["candidates"]) for r in rounds] == [24, 18, 12]
    disagree = 0
    for r in rounds:
        cands = r["candidates"]
        # The network left by a removal: -delta grows with its value, whatever the direction.
        cols = {n: np.array([-c[f"delta_{n}"] for c in cands]) for n in combo.members}
        goodness = combo.combine(cols)
        pruned = {(p["edge"], p["op"]) for p in r["pruned"]}
        for edge in {c["edge"] for c in cands}:
            on_edge = [i for i, c in enumerate(cands) if c["edge"] == edge]
            best = max(on_edge, key=lambda i: goodness[i])
            assert (edge, cands[best]["op"]) in pruned
        # The combination's order is not the plain rank sum's.
        total = sum(np.argsort(np.argsort(cols[n])) for n in combo.members)
        disagree += int(list(np.argsort(-total, kind="stable")) != list(np.argsort(-goodness, kind="stable")))
    assert disagree > 0


def test_evolution_best_preset_is_the_ensemble_in_parallel_batches() -> None:
    s = get_strategy("evolution", preset="best")
    assert s.combinations == ("ensemble",) and s.children > 1 and s.budget == EVOLUTION_PRESETS["best"]["budget"]
    assert get_strategy("evolution", preset="best", indicators=("naswot",)).indicators == ("naswot",)


def test_evolution_budget_below_population(nb201: Space) -> None:
    fake = FakeEvaluator()
    result = get_strategy("evolution", indicators=("lr",), budget=7, evaluator=fake).search(nb201)
    assert result.evaluations == 7 == len(fake.counts)


@pytest.mark.parametrize("name", ["evolution", "random"])
def test_seed_determinism_and_batching(nb201: Space, name: str) -> None:
    kw: dict[str, Any] = {"indicators": ("ntk", "lr"), "budget": 50}
    a = get_strategy(name, evaluator=FakeEvaluator(), seed=1, **kw).search(nb201)
    b = get_strategy(name, evaluator=FakeEvaluator(), seed=1, batch_size=1, **kw).search(nb201)
    assert a.arch == b.arch and a.history == b.history
    others = {get_strategy(name, evaluator=FakeEvaluator(), seed=s, **kw).search(nb201).arch_str for s in range(2, 6)}
    assert len(others | {a.arch_str}) > 1


def test_random_is_argmax_of_draws(nb201: Space) -> None:
    fake = FakeEvaluator()
    result = get_strategy("random", budget=40, evaluator=fake, seed=5).search(nb201)
    rng = np.random.default_rng(5)
    draws = [nb201.sample(rng) for _ in range(40)]
    assert [h["arch"] for h in result.history] == [nb201.format(a) for a in draws]
    assert result.indicators["naswot"] == max(h["naswot"] for h in result.history)
    assert result.evaluations == len(set(draws)) == len(fake.counts)


# -- Ctrl-C ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "call"), [("prune", 0), ("prune", 2), ("evolution", 1), ("random", 0), ("random", 1)])
def test_keyboard_interrupt_returns_valid_result(nb201: Space, name: str, call: int) -> None:
    fake = FakeEvaluator(interrupt_on_call=call)
    kw = {} if name == "prune" else {"budget": 40, "batch_size": 10}
    result = get_strategy(name, indicators=("ntk", "lr"), evaluator=fake, **kw).search(nb201)
    assert result.interrupted
    mask = nb201.arch_to_mask(nb201.parse(result.arch_str))
    assert all(len(ops) == 1 for ops in mask)
    json.dumps(result.to_dict())
    if name != "prune" and call > 0:
        assert np.isfinite(list(result.indicators.values())).all()


# -- the real evaluator, at small settings --------------------------------------------------
SMALL = {
    "ntk": {"batch_size": 8, "repeats": 1},
    "lr": {"batch_size": 100, "batches": 1, "repeats": 1},
    "gen": {"batch_size": 8, "test_batch_size": 8, "repeats": 1},
    "naswot": {"batch_size": 16, "width": 4, "cells": 1},
}


def _small(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {n: SMALL[n] for n in names}


def test_prune_nb201_real_evaluator(nb201: Space) -> None:
    kw: dict[str, Any] = {"overrides": _small(("ntk", "lr")), "device": "cpu", "seed": 0}
    result = get_strategy("prune", **kw).search(nb201)
    mask = nb201.arch_to_mask(result.arch)
    assert all(len(ops) == 1 and ops[0] != "none" for ops in mask)
    assert result.evaluations == 54 and len(result.history) == 3
    assert np.isfinite(list(result.indicators.values())).all()
    # A second run with the same seed: tests/test_scoring.py (a resumed search).


def test_prune_darts_real_evaluator_lr(darts: Space) -> None:
    # Linear regions only: the DARTS NTK costs ~0.5 s a mask on one CPU thread.
    result = get_strategy("prune", indicators=("lr",), overrides=_small(("lr",)), device="cpu").search(darts)
    mask = darts.arch_to_mask(result.arch)
    for group in darts.input_groups():
        assert sum(1 for e in group if mask[e]) == 2
    assert result.evaluations == 332  # 28 edges x (7 + 4) ops + 2 x (3 + 4 + 5) edges


@pytest.mark.slow
def test_prune_darts_real_evaluator_ntk_lr(darts: Space) -> None:
    result = get_strategy("prune", overrides=_small(("ntk", "lr")), device="cpu").search(darts)
    mask = darts.arch_to_mask(result.arch)
    assert all(sum(1 for e in g if mask[e]) == 2 for g in darts.input_groups())


def test_evolution_real_evaluator_values_are_single_arch_scores(nb201: Space) -> None:
    from tenas_automl.indicators import evaluate

    names = ("ntk", "lr", "gen")
    result = get_strategy(
        "evolution",
        budget=8,
        population_size=4,
        tournament_size=2,
        batch_size=4,
        overrides=_small(names),
        device="cpu",
        seed=2,
    ).search(nb201)
    assert result.evaluations == 8 and result.indicators.keys() == set(names)
    alone = evaluate(nb201, [nb201.arch_to_mask(result.arch)], names, seed=2, device="cpu", overrides=_small(names))
    assert result.indicators == {n: float(alone[n][0]) for n in names}


def test_random_real_evaluator(nb201: Space) -> None:
    kw: dict[str, Any] = {"budget": 12, "overrides": _small(("naswot",)), "device": "cpu", "seed": 4}
    a = get_strategy("random", **kw).search(nb201)
    b = get_strategy("random", batch_size=5, **kw).search(nb201)
    assert a.arch == b.arch and a.indicators == b.indicators
    assert a.indicators["naswot"] == max(h["naswot"] for h in a.history)


def test_interrupt_from_progress_callback(nb201: Space) -> None:
    def progress(done: int, total: int, info: str) -> None:
        if done >= 20:
            raise KeyboardInterrupt

    strategy = get_strategy("random", budget=100, batch_size=10, evaluator=FakeEvaluator(), progress=progress)
    result = strategy.search(nb201)
    assert result.interrupted and result.evaluations == 20
    assert result.indicators["naswot"] == max(h["naswot"] for h in result.history)


# -- the additive model of measured objectives ------------------------------------
def test_fit_additive_recovers_the_effects_of_an_additive_objective() -> None:
    from tenas_automl.strategies.surrogate import fit_additive

    rng = np.random.default_rng(0)
    effects = {(i, c): float(rng.normal()) for i in range(3) for c in "abc"}
    keys = [tuple(rng.choice(list("abc"), 3)) for _ in range(40)]

    def value(k: Sequence[str]) -> float:
        return sum(effects[(i, c)] for i, c in enumerate(k))

    model = fit_additive(keys, [value(k) for k in keys], alpha=1e-8)
    # Differences between any two cells, also ones never measured, come out exact.
    unseen = [k for k in (("a", "b", "c"), ("c", "c", "a"), ("b", "a", "a")) if k not in keys]
    pred = model.predict([*keys[:5], *unseen])
    true = np.array([value(k) for k in [*keys[:5], *unseen]])
    np.testing.assert_allclose(pred - pred[0], true - true[0], atol=1e-6)
    # A strong penalty shrinks every effect towards zero.
    shrunk = fit_additive(keys, [value(k) for k in keys], alpha=1e4)
    assert np.ptp(shrunk.predict(keys)) < 0.05 * np.ptp(pred)


def test_fit_additive_without_data_has_no_opinion_and_checks_its_input() -> None:
    from tenas_automl.strategies.surrogate import fit_additive

    assert fit_additive([], []).predict([("a",), ("b",)]).tolist() == [0.0, 0.0]
    assert fit_additive([("a",)], [3.0]).predict([("a",), ("b",)]).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="2 keys and 1 values"):
        fit_additive([("a",), ("b",)], [1.0])
    with pytest.raises(ValueError, match="alpha must be > 0, got 0"):
        fit_additive([("a",), ("b",)], [1.0, 2.0], alpha=0)


def test_guided_order_adds_the_model_rank_to_the_indicator_rank() -> None:
    from tenas_automl.strategies.surrogate import guided_order

    indicators = [1.0, 2.0, 3.0]  # rank sums, smaller is better
    # No opinion (equal up to float noise): the indicators' order stands.
    assert guided_order(indicators, [0.1, 0.1 + 1e-12, 0.1], 5.0).argmin() == 0
    # The model prefers the last: half a rank cannot beat a one-rank lead, two ranks can.
    # 0-based average ranks: indicators 0, 1, 2; model 1.5, 1.5, 0 (the two zeros tie).
    assert guided_order(indicators, [0.0, 0.0, 1.0], 0.5).tolist() == [0.75, 1.75, 2.0]
    assert guided_order(indicators, [0.0, 0.0, 1.0], 2.0).argmin() == 2


def test_searches_sharing_one_strategy_instance_in_threads_do_not_share_their_scores() -> None:
    from concurrent.futures import ThreadPoolExecutor

    space = get_space("nb201")
    strategy = get_strategy("evolution", indicators=["params"], budget=40, seed=3, device="cpu")
    alone = strategy.search(space)
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: strategy.search(space), range(2)))
    assert [r.history for r in both] == [alone.history, alone.history]
    assert all(r.arch == alone.arch and r.evaluations == alone.evaluations == 40 for r in both)
