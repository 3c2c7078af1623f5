"""Registry, settings and rank aggregation."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from tenas_automl.errors import TenasError, UnknownNameError
from tenas_automl.indicators import (
    INDICATORS,
    Indicator,
    get_indicator,
    higher_is_better,
    list_indicators,
    rank,
    rank_sum,
)
from tenas_automl.indicators.base import derive_seed


def test_list_has_the_papers_indicators_with_directions() -> None:
    names = list_indicators()
    assert names[:4] == ["ntk", "lr", "gen", "naswot"]
    assert {"params", "flops", "synflow", "jacov", "snip", "grad_norm"} <= set(names)
    assert [higher_is_better(n) for n in ("ntk", "lr", "gen", "naswot")] == [False, True, False, True]
    for name in names:
        ind = get_indicator(name)
        assert isinstance(ind, Indicator) and ind.name == name
        assert ind.cost in ("free", "low", "medium", "high")
        assert (ind.__doc__ or "").strip()


def test_paper_defaults() -> None:
    ntk = get_indicator("ntk").settings
    assert (ntk.width, ntk.cells, ntk.batch_size, ntk.repeats, ntk.augment) == (3, 1, 72, 3, True)
    lr = get_indicator("lr").settings
    assert (lr.width, lr.in_channels, lr.stem, lr.stages, lr.batch_size, lr.batches, lr.input_size) == (
        1,
        1,
        False,
        1,
        1000,
        3,
        3,
    )
    gen = get_indicator("gen").settings
    assert (gen.batch_size, gen.test_batch_size, gen.repeats) == (64, 64, 3)
    nw = get_indicator("naswot").settings
    assert (nw.width, nw.cells, nw.num_classes, nw.batch_size, nw.augment) == (16, 5, 1, 128, False)


def test_overrides_and_errors() -> None:
    ind = get_indicator("ntk", batch_size=8, repeats=1, mode="clean")
    assert (ind.settings.batch_size, ind.settings.repeats, ind.settings.mode) == (8, 1, "clean")
    assert get_indicator("ntk").settings.batch_size == 72  # defaults untouched
    with pytest.raises(UnknownNameError, match="'nkt'.*ntk, lr, gen, naswot"):
        get_indicator("nkt")
    with pytest.raises(UnknownNameError, match="batchsize.*batch_size"):
        get_indicator("ntk", batchsize=8)
    with pytest.raises(TenasError, match="batch_size=0"):
        get_indicator("ntk", batch_size=0)
    with pytest.raises(UnknownNameError, match="mode"):
        get_indicator("lr", mode="fast")
    with pytest.raises(UnknownNameError, match="resample"):
        get_indicator("lr", resample="never")
    with pytest.raises(TenasError, match="first_repeat=-1"):
        get_indicator("ntk", first_repeat=-1)
    assert set(INDICATORS) == set(list_indicators())


def test_settings_digest_tracks_values() -> None:
    a, b = get_indicator("lr"), get_indicator("lr", repeats=2)
    assert a.settings.digest() == get_indicator("lr").settings.digest()
    assert a.settings.digest() != b.settings.digest()
    # Pinned: disk-cached scores are keyed by these; fields added later
    # (first_repeat) must not change them at their defaults.
    assert get_indicator("ntk").settings.digest() == "98f4fcf5a1422937"
    # A field added later, left at its default, keeps the earlier cache key.
    assert get_indicator("ntk", backward="auto").settings.digest() == "98f4fcf5a1422937"
    assert get_indicator("ntk", backward="fast").settings.digest() != "98f4fcf5a1422937"
    assert get_indicator("lr", resample="data").settings.digest() == "415335f3ebb988ac"
    assert get_indicator("lr", resample="data", first_repeat=1).settings.digest() != "415335f3ebb988ac"
    assert a.key("paper") != a.key("clean")


def test_derive_seed_is_stable_and_separates_keys() -> None:
    assert derive_seed(0, "weights", 1) == derive_seed(0, "weights", 1)
    assert len({derive_seed(s, k) for s in range(3) for k in ("a", "b")}) == 6
    # Not Python's salted hash: another process derives the same seed.
    code = "from tenas_automl.indicators.base import derive_seed; print(derive_seed(0, 'x', 2))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == derive_seed(0, "x", 2)


def test_rank_dense_ties_and_nonfinite_last() -> None:
    values = [3.0, math.nan, 1.0, 3.0, math.inf, 2.0]
    np.testing.assert_array_equal(rank(values, higher_is_better=True), [0, 3, 2, 0, 3, 1])
    np.testing.assert_array_equal(rank(values, higher_is_better=False), [2, 3, 0, 2, 3, 1])
    np.testing.assert_array_equal(rank([-math.inf, 5.0], higher_is_better=False), [1, 0])
    np.testing.assert_array_equal(rank([math.nan, math.nan], True), [0, 0])
    np.testing.assert_array_equal(rank(values, True, method="min"), [0, 4, 3, 0, 4, 2])
    np.testing.assert_array_equal(rank(values, True, method="average"), [0.5, 4.5, 3, 0.5, 4.5, 2])
    np.testing.assert_array_equal(rank(values, True, method="ordinal"), [0, 4, 3, 1, 5, 2])
    with pytest.raises(UnknownNameError):
        rank(values, True, method="fancy")


def test_rank_sum_uses_directions() -> None:
    values = {"ntk": [10.0, 20.0, math.nan], "lr": [100.0, 300.0, 200.0]}
    # ntk (lower better): 0, 1, 2;  lr (higher better): 2, 0, 1.
    np.testing.assert_array_equal(rank_sum(values), [2, 1, 3])
    np.testing.assert_array_equal(rank_sum(values, {"ntk": True}), [3, 0, 3])
    with pytest.raises(UnknownNameError):
        rank_sum({"unknown": [1.0]})
    with pytest.raises(ValueError, match="values"):
        rank_sum({"ntk": [1.0], "lr": [1.0, 2.0]})


def test_space_defaults_follow_the_space_and_the_data() -> None:
    from tenas_automl.data import load_data
    from tenas_automl.spaces import get_space

    nb201, darts = get_space("nb201"), get_space("darts")
    cifar, imagenet = load_data("cifar10"), load_data("ImageNet16-120")
    ntk = get_indicator("ntk")
    assert ntk.effective_settings(nb201, imagenet).batch_size == 72
    on_darts = ntk.effective_settings(darts, cifar)
    assert (on_darts.batch_size, on_darts.width) == (14, 1)  # TE-NAS's DARTS network and batch
    assert ntk.effective_settings(darts, imagenet).batch_size == 24  # and its ImageNet batch
    assert get_indicator("ntk", batch_size=32).effective_settings(darts, imagenet).batch_size == 32  # a setting given wins
    assert get_indicator("gen").effective_settings(darts, imagenet).batch_size == 64
