"""Every search ranks its pool the same way: TE-NAS's rank sum, or a named combination's log-rank sum.

A combination (``ensemble``, ``az``) given where indicators are expected is
scored by its members and ranks by its log-rank sum, in the native
strategies, the Optuna sampler and pruner, and the NNI tuner. A cheap
combination of ``naswot`` and ``params`` on a tiny network stands in for the
ensemble, whose members cost about a second per architecture.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from tenas_automl.indicators import COMBINATIONS, Combination, log_rank_sum, pool_ranking, rank_sum
from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture
from tenas_automl.spaces import get_space

optuna.logging.set_verbosity(optuna.logging.WARNING)
TINY = {"naswot": {"width": 4, "cells": 1, "batch_size": 16}, "params": {"width": 4, "cells": 1}}
HIB = {"naswot": True, "params": True}
#: Two architectures tied by the rank sum (1st + 3rd = 2nd + 2nd); the log-rank sum prefers the balanced one.
ROWS = [{"naswot": 3.0, "params": 1.0}, {"naswot": 2.0, "params": 2.0}, {"naswot": 1.0, "params": 3.0}]


@pytest.fixture(autouse=True)
def cheap(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Combination:
    monkeypatch.setenv("TENAS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "score-cache"))
    combo = Combination("cheap", ("naswot", "params"), "test: log-rank sum of naswot and params")
    monkeypatch.setitem(COMBINATIONS, "cheap", combo)
    return combo


def _cols(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    return {n: np.array([r[n] for r in rows]) for n in HIB}


def test_pool_ranking_is_the_rank_sum_or_minus_the_log_rank_sum() -> None:
    cols = _cols(ROWS)
    assert np.array_equal(pool_ranking(cols, HIB), rank_sum(cols, HIB, method="min"))
    assert np.allclose(pool_ranking(cols, HIB, ["cheap"]), -log_rank_sum(cols, HIB))
    assert int(np.argmin(pool_ranking(cols, HIB))) == 0  # a tie: the first
    assert int(np.argmin(pool_ranking(cols, HIB, ["cheap"]))) == 1
    # A failed score ranks below every finite one.
    failed = {"naswot": np.array([math.nan, 2.0, 1.0]), "params": np.array([3.0, 2.0, 1.0])}
    worst = {"naswot": np.array([0.0, 2.0, 1.0]), "params": failed["params"]}
    assert np.allclose(pool_ranking(failed, HIB, ["cheap"]), pool_ranking(worst, HIB, ["cheap"]))


def test_optuna_sampler_scores_the_members_and_ranks_by_the_combination() -> None:
    space = get_space("nb201")
    sampler = TrainingFreeSampler(space, indicators=("cheap",), overrides=TINY, device="cpu", seed=0,
                                  candidates=4, n_startup_trials=2)  # fmt: skip
    assert sampler.scorer.indicators == ("naswot", "params") and sampler.scorer.combinations == ("cheap",)
    assert np.allclose(sampler.scorer.combined_rank(ROWS), -log_rank_sum(_cols(ROWS), HIB))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: space.benchmark_accuracy(suggest_architecture(t, space), "cifar10"), n_trials=5)
    assert all({"tenas:naswot", "tenas:params"} <= set(t.user_attrs) for t in study.trials)
    assert not any("tenas:cheap" in t.user_attrs for t in study.trials)  # a pool's ranking, not a score


@pytest.mark.nni
def test_nni_tuner_ranks_by_the_combination() -> None:
    pytest.importorskip("nni")
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner

    tuner = TrainingFreeTuner(indicators=["cheap"], overrides=TINY, device="cpu")
    assert tuner.indicators == ("naswot", "params") and tuner.combinations == ("cheap",)
    assert tuner._argbest(ROWS) == 1
    plain = TrainingFreeTuner(indicators=["naswot", "params"], overrides=TINY, device="cpu")
    assert plain._argbest(ROWS) == 0


@pytest.mark.nni
def test_nni_strategies_score_the_members_and_prune_with_the_combination() -> None:
    pytest.importorskip("nni")
    from tenas_automl.integrations.nni import IndicatorEvolutionStrategy, TENASPruningStrategy

    evo = IndicatorEvolutionStrategy(["cheap"], overrides=TINY, device="cpu", budget=3)
    assert evo.indicators == ("naswot", "params") and evo.combinations == ("cheap",)
    prune = TENASPruningStrategy(["cheap"], overrides=TINY, device="cpu")
    assert prune.indicators == ("naswot", "params") and prune.combinations == ("cheap",)
