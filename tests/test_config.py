"""ScoringConfig: one validated value for the scoring settings, used by every search."""

from __future__ import annotations

import pytest

from tenas_automl import ScoringConfig, get_space, get_strategy
from tenas_automl.config import ScoringConfigError
from tenas_automl.errors import UnknownNameError
from tenas_automl.indicators import COMBINATIONS
from tenas_automl.integrations.nni import IndicatorEvolutionStrategy, StrategySettingError
from tenas_automl.integrations.optuna import TrainingFreePruner, TrainingFreeSampler

CHEAP = {"naswot": {"cells": 1, "batch_size": 16}}


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"indicators": ()}, ScoringConfigError, "indicators is empty"),
        ({"indicators": ("kappa",)}, UnknownNameError, "'kappa'"),
        ({"overrides": {"ntk": {"bogus": 1}}}, UnknownNameError, "'bogus'"),
        ({"overrides": {"kappa": {}}}, UnknownNameError, "in overrides"),
        ({"overrides": {"ntk": 3}}, ScoringConfigError, "overrides\\['ntk'\\]"),
        ({"dataset": "mnist"}, UnknownNameError, "mnist"),
        ({"device": "gpu"}, ScoringConfigError, "'gpu'"),
        ({"seed": 1.5}, ScoringConfigError, "1.5"),
        ({"mode": "fast"}, UnknownNameError, "mode 'fast'"),
    ],
)
def test_bad_settings_are_named_when_the_config_is_made(kwargs: dict, error: type, needle: str) -> None:
    with pytest.raises(error, match=needle):
        ScoringConfig(**kwargs)


def test_members_keys_and_equality() -> None:
    config = ScoringConfig("ensemble, naswot", seed=3, overrides=CHEAP)
    assert config.indicators == ("ensemble", "naswot")
    assert config.combinations == ("ensemble",)
    assert config.members == (*COMBINATIONS["ensemble"].members, "naswot")
    keys = config.indicator_keys()
    assert set(keys) == set(config.members) and all("|seed=3|cifar10|bundled" in k for k in keys.values())
    # Equal settings give equal keys and equal, hashable configs; any change gives another key.
    same = ScoringConfig(["ensemble", "naswot"], seed=3, overrides={"naswot": dict(CHEAP["naswot"])})
    assert same == config and hash(same) == hash(config) and same.cache_key() == config.cache_key()
    for change in ({"seed": 4}, {"dataset": "cifar100"}, {"mode": "clean"}, {"data_dir": "/data"},
                   {"overrides": {"naswot": {"batch_size": 8}}}):  # fmt: skip
        assert config.replace(**change).cache_key() != config.cache_key(), change
    # The device does not change a value, so it is not in the key.
    assert config.replace(device="cpu").cache_key() == config.cache_key()


def test_a_search_given_a_config_equals_the_search_given_separate_arguments() -> None:
    nb201 = get_space("nb201")
    loose = get_strategy("random", indicators=["naswot"], budget=3, seed=2, device="cpu", overrides=CHEAP)
    config = ScoringConfig(("naswot",), seed=2, device="cpu", overrides=CHEAP)
    given = get_strategy("random", budget=3, config=config)
    assert given.config == loose.config
    assert given.search(nb201).history == loose.search(nb201).history
    with pytest.raises(ScoringConfigError, match="not both .*seed"):
        get_strategy("random", budget=3, seed=5, config=config)


def test_integrations_take_one_config_and_refuse_stray_overrides() -> None:
    config = ScoringConfig(("naswot",), seed=1, overrides=CHEAP)
    sampler = TrainingFreeSampler("nb201", seed=7, config=config)
    pruner = TrainingFreePruner("nb201", config=sampler.scorer.config)
    assert sampler.scorer.settings_keys == pruner.scorer.settings_keys == config.indicator_keys()
    assert IndicatorEvolutionStrategy(config=config).config is config
    stray = config.replace(overrides={**CHEAP, "ntk": {"batch_size": 8}})
    with pytest.raises(ScoringConfigError, match="'ntk'"):
        TrainingFreePruner("nb201", config=stray)
    with pytest.raises(StrategySettingError, match="'ntk'"):
        IndicatorEvolutionStrategy(config=stray)
    with pytest.raises(ScoringConfigError, match="not both .*indicators"):
        TrainingFreeSampler("nb201", indicators=("lr",), config=config)


def test_spaces_answer_what_adapters_used_to_branch_on() -> None:
    nb201, darts = get_space("nb201"), get_space("darts")
    assert nb201.benchmark_datasets == ("cifar10", "cifar100", "ImageNet16-120") and darts.benchmark_datasets == ()
    assert darts.best_accuracy("cifar10") is None and nb201.best_accuracy("cifar10") == pytest.approx(94.37, abs=0.01)
    a = nb201.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|")
    b = nb201.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    assert nb201.dedup_key(a) != nb201.format(a)  # isomorphism classes, not strings
    assert nb201.dedup_key(a) != nb201.dedup_key(b)
    g = darts.parse("darts_v2")
    swapped = type(g)(tuple(p for k in range(0, 8, 2) for p in g.normal[k : k + 2][::-1]), g.normal_concat,
                      g.reduce, g.reduce_concat)  # fmt: skip
    assert darts.dedup_key(swapped) == darts.dedup_key(g)
    assert nb201.param_count_millions(a) is None and darts.param_count_millions(g) == pytest.approx(3.3, abs=0.05)


def test_former_knob_names_still_work_with_a_warning() -> None:
    from tenas_automl.errors import TenasError
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner

    with pytest.warns(FutureWarning, match="candidates_per_trial"):
        sampler = TrainingFreeSampler("nb201", indicators=("params",), candidates_per_trial=3)
    assert sampler.candidates == sampler.candidates_per_trial == 3
    with pytest.warns(FutureWarning, match="children"):
        strategy = IndicatorEvolutionStrategy(("params",), children=5)
    assert strategy.candidates == strategy.children == 5
    with pytest.warns(FutureWarning, match="population") as caught:
        tuner = TrainingFreeTuner(indicators=("params",), population=8, tournament=3)
    assert any("tournament_size" in str(w.message) for w in caught)
    assert (tuner.population_size, tuner.tournament_size) == (8, 3)
    with pytest.raises(TenasError, match="not both"), pytest.warns(FutureWarning):
        TrainingFreeSampler("nb201", indicators=("params",), candidates=4, candidates_per_trial=3)


def test_former_module_paths_still_import() -> None:
    pytest.importorskip("nni")
    from tenas_automl.integrations.nni.config import write_nni_config
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner
    from tenas_automl.integrations.nni_config import write_nni_config as old_writer
    from tenas_automl.integrations.nni_tuner import TrainingFreeTuner as old_tuner  # YAML files name this path

    assert old_tuner is TrainingFreeTuner and old_writer is write_nni_config
