"""Property tests of the parsers users feed: any input gives a round-trip or one TenasError line, never a traceback.

Inputs are drawn around valid ones (valid values with one piece replaced,
dropped or garbled) as well as at random, so that the errors exercised are
the near misses users make.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenas_automl import get_space
from tenas_automl.errors import TenasError

NB201 = get_space("nb201")
DARTS = get_space("darts")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOISE = st.text(alphabet=string.printable, max_size=12)


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, text


def _archs(space: Any) -> st.SearchStrategy[Any]:
    return st.integers(0, 2**32 - 1).map(lambda s: space.sample(np.random.default_rng(s)))


@st.composite
def near_misses(draw: st.DrawFn, valid: st.SearchStrategy[str]) -> str:
    """A valid string with a slice replaced by noise, or deleted, or duplicated."""
    text = draw(valid)
    i = draw(st.integers(0, len(text)))
    j = draw(st.integers(i, min(len(text), i + 8)))
    how = draw(st.sampled_from(("replace", "delete", "repeat", "keep")))
    if how == "replace":
        return text[:i] + draw(NOISE) + text[j:]
    if how == "delete":
        return text[:i] + text[j:]
    if how == "repeat":
        return text[:j] + text[i:j] + text[j:]
    return text


def _check_parse_round_trip(space: Any, text: str) -> None:
    try:
        arch = space.parse(text)
    except TenasError as exc:
        _one_line(exc)
        return
    again = space.parse(space.format(arch))
    assert again == arch and space.format(again) == space.format(arch)


@SETTINGS
@given(st.one_of(near_misses(_archs(NB201).map(NB201.format)), NOISE))
def test_nb201_arch_strings(text: str) -> None:
    _check_parse_round_trip(NB201, text)


@SETTINGS
@given(st.one_of(near_misses(_archs(DARTS).map(DARTS.format)), NOISE))
def test_darts_genotypes(text: str) -> None:
    _check_parse_round_trip(DARTS, text)


@st.composite
def param_dicts(draw: st.DrawFn, space: Any) -> dict[str, Any]:
    """The Optuna parameters of an architecture, with a value changed, a key dropped or an extra key added."""
    from tenas_automl.integrations.optuna import get_codec

    params: dict[str, Any] = dict(get_codec(space).params(draw(_archs(space))))
    keys = sorted(params)
    how = draw(st.sampled_from(("value", "drop", "extra", "keep")))
    if how == "value":
        params[draw(st.sampled_from(keys))] = draw(st.one_of(NOISE, st.integers(-3, 9), st.none(), st.floats()))
    elif how == "drop":
        params.pop(draw(st.sampled_from(keys)))
    elif how == "extra":
        params[draw(NOISE)] = draw(NOISE)
    return params


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
@SETTINGS
@given(data=st.data())
def test_optuna_parameter_dicts(space: Any, data: st.DataObject) -> None:
    from tenas_automl.integrations.optuna import get_codec

    codec = get_codec(space)
    params = data.draw(param_dicts(space))
    try:
        arch = codec.arch(params)
    except TenasError as exc:
        _one_line(exc)
        return
    assert codec.arch(codec.params(arch)) == arch


@st.composite
def nni_samples(draw: st.DrawFn, space: Any) -> dict[str, Any]:
    from tenas_automl.integrations.nni._mapping import from_arch

    arch = draw(_archs(space))
    try:
        sample = dict(from_arch(arch, space))
    except TenasError:  # a DARTS genotype with 'none', which NNI's DARTS space lacks
        sample = dict(from_arch(DARTS.parse(DARTS.format(DARTS.sample(np.random.default_rng(0)))), space))
    keys = sorted(sample)
    how = draw(st.sampled_from(("value", "drop", "extra", "keep")))
    if how == "value":
        sample[draw(st.sampled_from(keys))] = draw(st.one_of(NOISE, st.integers(-3, 9), st.lists(st.integers(-2, 6), max_size=2)))
    elif how == "drop":
        sample.pop(draw(st.sampled_from(keys)))
    elif how == "extra":
        sample[draw(NOISE)] = draw(NOISE)
    return sample


@pytest.mark.parametrize("space", [NB201, DARTS], ids=["nb201", "darts"])
@SETTINGS
@given(data=st.data())
def test_nni_samples(space: Any, data: st.DataObject) -> None:
    from tenas_automl.integrations.nni._mapping import from_arch, to_arch

    sample = data.draw(nni_samples(space))
    try:
        arch = to_arch(sample, space)
    except TenasError as exc:
        _one_line(exc)
        return
    assert to_arch(from_arch(arch, space), space) == arch


INDICATOR_WORDS = st.sampled_from(["ntk", "lr", "naswot", "ensemble", "az", "zico", "meco", "NTK", "", " ", "ntk ", "nope"])


@SETTINGS
@given(st.one_of(st.lists(INDICATOR_WORDS, max_size=4).map(",".join), NOISE))
def test_indicator_lists(text: str) -> None:
    from tenas_automl import ScoringConfig
    from tenas_automl.config import parse_indicators

    try:
        config = ScoringConfig(parse_indicators(text))
    except TenasError as exc:
        _one_line(exc)
        return
    assert config.indicators and ScoringConfig(parse_indicators(",".join(config.indicators))) == config


SETTING_NAMES = st.sampled_from(["batch_size", "repeats", "width", "num_batches", "bn", "nope", ""])
SETTING_VALUES = st.one_of(st.integers(-2, 300), st.booleans(), st.none(), NOISE, st.floats(allow_nan=True))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["ntk", "lr", "naswot", "zico", "nope"]),
        st.one_of(st.dictionaries(SETTING_NAMES, SETTING_VALUES, max_size=2), NOISE, st.integers()),
        max_size=2,
    )
)
def test_settings_overrides(overrides: dict[str, Any]) -> None:
    from tenas_automl import ScoringConfig

    try:
        config = ScoringConfig(("ntk", "lr", "naswot", "zico"), overrides=overrides)
        config.indicator_keys()  # builds every indicator with its settings
    except TenasError as exc:
        _one_line(exc)
        return
    assert ScoringConfig(config.indicators, overrides=config.overrides) == config
