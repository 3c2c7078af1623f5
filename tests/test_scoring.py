"""``score`` / ``score_many``: results, equality with ``evaluate``, the on-disk cache."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tenas_automl.data import load_data
from tenas_automl.errors import InvalidArchitectureError
from tenas_automl.indicators import evaluate
from tenas_automl.scoring import (
    CACHE_FILE,
    CachedEvaluator,
    ScoreCache,
    ScoreResult,
    default_cache_dir,
    iter_scores,
    score,
    score_many,
)
from tenas_automl.spaces import get_space
from tenas_automl.strategies import get_strategy

REFERENCE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SMALL = {"ntk": {"batch_size": 8, "repeats": 1}, "lr": {"batch_size": 100, "repeats": 1}}


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def archs(space):
    rng = np.random.default_rng(0)
    return [space.format(space.sample(rng)) for _ in range(3)]


def test_score_result_fields_and_equality_with_evaluate(space) -> None:
    result = score(space, REFERENCE, seed=1, device="cpu", overrides=SMALL)
    assert isinstance(result, ScoreResult)
    assert result.arch == REFERENCE and result.seed == 1 and result.device == "cpu"
    assert list(result.values) == ["ntk", "lr"] and result.cached == ()
    assert all(s > 0 for s in result.seconds.values())
    direct = evaluate(space, [space.arch_to_mask(space.parse(REFERENCE))], ["ntk", "lr"], seed=1,
                      device="cpu", overrides=SMALL)  # fmt: skip
    assert result.values == {k: float(v[0]) for k, v in direct.items()}
    row = result.row()
    assert list(row) == ["arch", "ntk", "ntk_seconds", "lr", "lr_seconds"]
    # An arch object gives the same as its string.
    assert score(space, space.parse(REFERENCE), seed=1, device="cpu", overrides=SMALL).values == result.values


def test_score_many_streams_equal_results_and_caches(space, archs, tmp_path) -> None:
    calls: list[tuple[int, int, str]] = []
    first = score_many(space, archs, seed=2, device="cpu", overrides=SMALL, cache_dir=tmp_path,
                       progress=lambda d, t, a: calls.append((d, t, a)))  # fmt: skip
    assert [c[:2] for c in calls] == [(1, 3), (2, 3), (3, 3)] and [c[2] for c in calls] == archs
    for arch, res in zip(archs, first):
        alone = score(space, arch, seed=2, device="cpu", overrides=SMALL)
        assert res.arch == arch and res.values == alone.values and res.cached == ()
    assert (tmp_path / CACHE_FILE).is_file()
    again = score_many(space, archs, seed=2, device="cpu", overrides=SMALL, cache_dir=tmp_path)
    for a, b in zip(first, again):
        assert b.cached == ("ntk", "lr")
        assert b.values == a.values and b.seconds == a.seconds
    # A different seed or setting is a different key.
    other = score_many(space, archs[:1], seed=3, device="cpu", overrides=SMALL, cache_dir=tmp_path)
    assert other[0].cached == ()
    changed = {**SMALL, "lr": {"batch_size": 100, "repeats": 2}}
    mixed = score_many(space, archs[:1], seed=2, device="cpu", overrides=changed, cache_dir=tmp_path)
    assert mixed[0].cached == ("ntk",)
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 2 * 3 + 2 + 1


def test_cache_keeps_nan(space, tmp_path) -> None:
    cut = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
    first = score_many(space, [cut], device="cpu", overrides=SMALL, cache_dir=tmp_path)
    again = score_many(space, [cut], device="cpu", overrides=SMALL, cache_dir=tmp_path)
    assert math.isnan(first[0].values["ntk"]) and math.isnan(again[0].values["ntk"])
    assert again[0].cached == ("ntk", "lr")


def test_cache_dir_default_and_env(monkeypatch, tmp_path, space) -> None:
    monkeypatch.setenv("TENAS_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    score_many(space, [REFERENCE], indicators=["lr"], device="cpu", overrides=SMALL)
    assert (tmp_path / "env" / CACHE_FILE).is_file()
    monkeypatch.delenv("TENAS_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tenas-automl"
    score_many(space, [REFERENCE], indicators=["lr"], device="cpu", overrides=SMALL, use_cache=False)
    assert not (tmp_path / "home").exists()


def test_bad_arch_raises(space) -> None:
    with pytest.raises(InvalidArchitectureError):
        score(space, "|nor_conv_3x3~0|+|", device="cpu")


# -- CachedEvaluator: searches on the score cache ------------------------------------
def test_cached_evaluator_resumes_an_interrupted_prune_with_the_same_result(space, tmp_path) -> None:
    kw = {"overrides": {**SMALL, "lr": {"batch_size": 100, "batches": 1, "repeats": 1}}, "device": "cpu", "seed": 0}
    plain = get_strategy("prune", **kw).search(space)

    inner_calls: list[int] = []

    def stop_at_round_2(*args, **kwargs):
        # One inner call per round (ntk and lr together); Ctrl-C on round 2's.
        if len(inner_calls) == 1:
            raise KeyboardInterrupt
        inner_calls.append(len(args[1]))
        return evaluate(*args, **kwargs)

    with ScoreCache(tmp_path) as cache:
        first = CachedEvaluator(cache, inner=stop_at_round_2)
        assert get_strategy("prune", evaluator=first, **kw).search(space).interrupted
        assert inner_calls == [25] and (first.hits, first.computed) == (0, 50)  # supernet + 24 candidates
        resumed = CachedEvaluator(cache)
        result = get_strategy("prune", evaluator=resumed, **kw).search(space)
    assert not result.interrupted
    # Round 1 came from the first run's values, rounds 2-3 were computed again: the same search.
    assert result.arch == plain.arch and result.indicators == plain.indicators
    assert result.history == plain.history
    assert resumed.hits == 50 and resumed.computed == 2 * (19 + 13 + 1)
    # The architecture found shares its entries with ``score``.
    again = score_many(space, [result.arch], seed=0, device="cpu", overrides=kw["overrides"], cache_dir=tmp_path)
    assert again[0].cached == ("ntk", "lr") and again[0].values == result.indicators
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        names = {row[0] for row in db.execute("SELECT arch FROM scores")}
    assert space.format(result.arch) in names and any(n.startswith("mask:") for n in names)


def test_cached_evaluator_keys_by_seed_settings_and_data(space, tmp_path) -> None:
    masks = [space.arch_to_mask(space.parse(REFERENCE))]
    with ScoreCache(tmp_path) as cache:
        cached = CachedEvaluator(cache)
        a = cached(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL)
        assert (cached.hits, cached.computed) == (0, 1)
        assert cached(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL)["lr"].tolist() == a["lr"].tolist()
        assert (cached.hits, cached.computed) == (1, 1)
        cached(space, masks, ["lr"], seed=2, device="cpu", overrides=SMALL)
        cached(space, masks, ["lr"], seed=1, device="cpu", overrides={"lr": {"batch_size": 50, "repeats": 1}})
        cached(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL, mode="clean")
        assert (cached.hits, cached.computed) == (1, 4)
        # Other images of the same name, source and size, or another normalisation: other entries.
        data = load_data("cifar10")
        shuffled = dataclasses.replace(data, train_images=data.train_images[::-1].copy())
        renormed = dataclasses.replace(data, std=(1.0, 1.0, 1.0))
        assert len({data.fingerprint, shuffled.fingerprint, renormed.fingerprint}) == 3
        b = cached(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL, data=shuffled)
        cached(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL, data=renormed)
        assert (cached.hits, cached.computed) == (1, 6) and b["lr"][0] != a["lr"][0]
        cached(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL, data=data)
        assert (cached.hits, cached.computed) == (2, 6)
    assert a["lr"][0] == evaluate(space, masks, ["lr"], seed=1, device="cpu", overrides=SMALL)["lr"][0]


# -- atomic writes ---------------------------------------------------------------
def test_atomic_writes_get_a_plain_files_mode_and_leave_nothing_behind_on_failure(tmp_path: Path) -> None:
    from tenas_automl._io import atomic_write_bytes, atomic_write_json

    old = os.umask(0o022)
    try:
        fresh = atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
    fresh.chmod(0o640)
    atomic_write_json(fresh, {"a": 2})  # replacing keeps the file's own mode
    assert fresh.stat().st_mode & 0o777 == 0o640 and json.loads(fresh.read_text()) == {"a": 2}
    with pytest.raises(TypeError):
        atomic_write_bytes(fresh, "text, not bytes")  # fails after the temporary file exists
    assert json.loads(fresh.read_text()) == {"a": 2} and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_atomic_writes_never_touch_the_process_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Setting and restoring the umask to read it races with other threads' file creation.
    from concurrent.futures import ThreadPoolExecutor

    from tenas_automl._io import atomic_write_json

    def no_umask(_mask: int) -> int:
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", no_umask)
    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(lambda k: atomic_write_json(tmp_path / f"{k % 3}.json", {"k": k}), range(24)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.json", "1.json", "2.json"]
    assert all(json.loads(p.read_text())["k"] % 3 == int(p.stem) for p in written)


def test_iter_scores_sums_non_finite_scores_up_in_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    nb201 = get_space("nb201")
    no_path = ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
               "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"]  # fmt: skip
    archs = [no_path[0], "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|", no_path[1]]
    with caplog.at_level("WARNING"):
        rows = list(iter_scores(nb201, archs, ["lr"], seed=0, device="cpu"))
    assert [math.isfinite(r.values["lr"]) for r in rows] == [False, True, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["lr: 2 of 3 architectures scored non-finite (nan); they rank last"], warnings


def test_cached_evaluator_scores_the_indicators_missing_the_same_masks_in_one_call(space, tmp_path) -> None:
    names = ["naswot", "params", "lr"]
    overrides = {"naswot": {"cells": 1, "batch_size": 16}, "lr": {"batch_size": 32, "batches": 1, "repeats": 1}}
    rng = np.random.default_rng(3)
    masks = [space.arch_to_mask(space.sample(rng)) for _ in range(3)]
    calls: list[tuple[int, tuple[str, ...]]] = []

    def counting(space_, masks_, inds, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append((len(masks_), tuple(i.name for i in inds)))
        return evaluate(space_, masks_, inds, **kwargs)

    with ScoreCache(tmp_path) as cache:
        cached = CachedEvaluator(cache, inner=counting)
        cached(space, masks[:1], ["params"], device="cpu", overrides=overrides)  # params of mask 0 cached
        got = cached(space, masks, names, device="cpu", overrides=overrides)
    # One call for the two indicators missing every mask, one for params' two missing masks.
    assert calls[1:] == [(3, ("naswot", "lr")), (2, ("params",))]
    separate = {n: evaluate(space, masks, [n], device="cpu", overrides=overrides)[n] for n in names}
    for n in names:
        np.testing.assert_array_equal(got[n], separate[n])
