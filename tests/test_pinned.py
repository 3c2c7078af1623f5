"""Pinned searches: the same seed gives the same architectures, before and after a refactor.

Each test runs one real search (real indicators at small settings) and
compares what it proposed with ``tests/data/pinned_searches.json``. A change
that alters a sequence on purpose regenerates the file with
``python tests/test_pinned.py`` and says why in the changelog.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tenas_automl import get_space, get_strategy

PINS = Path(__file__).with_name("data") / "pinned_searches.json"
#: Cheap settings of the real indicators: the same code paths in seconds.
CHEAP: dict[str, dict[str, Any]] = {
    "naswot": {"cells": 1, "batch_size": 16},
    "lr": {"batch_size": 32, "batches": 1, "repeats": 1},
}
INDICATORS = ("naswot", "lr")
NB201 = get_space("nb201")


def prune() -> dict[str, Any]:
    r = get_strategy("prune", indicators=INDICATORS, seed=3, device="cpu", overrides=CHEAP).search(NB201)
    return {"arch": r.arch_str, "indicators": {k: round(v, 6) for k, v in r.indicators.items()}}


def evolution() -> dict[str, Any]:
    r = get_strategy(
        "evolution", indicators=INDICATORS, budget=12, population_size=6, tournament_size=3, children=2,
        seed=5, device="cpu", overrides=CHEAP,
    ).search(NB201)  # fmt: skip
    return {"arch": r.arch_str, "visited": [h["arch"] for h in r.history]}


def optuna_study() -> dict[str, Any]:
    import optuna

    from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture

    sampler = TrainingFreeSampler(
        NB201, "evolution", INDICATORS, seed=2, device="cpu", use_cache=False, candidates=4, overrides=CHEAP
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: NB201.benchmark_accuracy(suggest_architecture(t, NB201), "cifar10"), n_trials=10)
    return {"trials": [t.user_attrs["tenas:arch"] for t in study.trials]}


def nni_run() -> dict[str, Any]:
    from tenas_automl.integrations.nni import run_nni_experiment

    result = run_nni_experiment(
        "nb201", strategy="evolution", budget=4, indicators=INDICATORS, overrides=CHEAP, device="cpu", seed=1,
        screen_size=4, candidates=2,
    )  # fmt: skip
    return {"submitted": [m.arch for m in result.submitted]}


def nni_tuner() -> dict[str, Any]:
    from tenas_automl.integrations.nni.config import arch_from_params, search_space_for
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner

    tuner = TrainingFreeTuner(indicators=INDICATORS, population_size=4, candidates=3, overrides=CHEAP, seed=4, device="cpu")
    tuner.update_search_space(search_space_for(tuner.space))
    proposed = []
    for i in range(6):
        params = tuner.generate_parameters(i)
        arch = arch_from_params(params, NB201)
        proposed.append(NB201.format(arch))
        tuner.receive_trial_result(i, params, float(NB201.benchmark_accuracy(arch, "cifar10")))
    return {"proposed": proposed}


def optuna_prune() -> dict[str, Any]:
    # The pruning result given (pruned=), so the pin covers the local search around the best trial.
    import optuna

    from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture

    sampler = TrainingFreeSampler(
        NB201, "prune", INDICATORS, seed=6, device="cpu", use_cache=False, candidates=4, overrides=CHEAP,
        pruned="|nor_conv_1x1~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
    )  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: NB201.benchmark_accuracy(suggest_architecture(t, NB201), "cifar10"), n_trials=8)
    return {"trials": [t.user_attrs["tenas:arch"] for t in study.trials]}


def nni_prune() -> dict[str, Any]:
    from tenas_automl.integrations.nni import run_nni_experiment

    result = run_nni_experiment("nb201", strategy="prune", budget=5, indicators=INDICATORS, overrides=CHEAP, device="cpu", seed=2)
    return {"submitted": [m.arch for m in result.submitted]}


def nni_tuner_random() -> dict[str, Any]:
    from tenas_automl.integrations.nni.config import search_space_for
    from tenas_automl.integrations.nni.tuner import TrainingFreeTuner

    tuner = TrainingFreeTuner(strategy="random", indicators=INDICATORS, candidates=3, overrides=CHEAP, seed=7, device="cpu")
    tuner.update_search_space(search_space_for(tuner.space))
    return {"proposed": [json.dumps(tuner.generate_parameters(i), sort_keys=True) for i in range(4)]}


SEARCHES: dict[str, Callable[[], dict[str, Any]]] = {
    "prune": prune,
    "evolution": evolution,
    "optuna_study": optuna_study,
    "optuna_prune": optuna_prune,
    "nni_run": nni_run,
    "nni_prune": nni_prune,
    "nni_tuner": nni_tuner,
    "nni_tuner_random": nni_tuner_random,
}


@pytest.mark.parametrize("name", list(SEARCHES))
def test_search_matches_its_pin(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name.startswith("nni"):
        pytest.importorskip("nni")
        monkeypatch.setenv("HOME", str(tmp_path))
    assert SEARCHES[name]() == json.loads(PINS.read_text())[name]


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    names = sys.argv[1:] or list(SEARCHES)
    pins = json.loads(PINS.read_text()) if PINS.exists() else {}
    pins.update({n: SEARCHES[n]() for n in names})
    PINS.write_text(json.dumps(pins, indent=1) + "\n")
    print(f"wrote {', '.join(names)} to {PINS}")
