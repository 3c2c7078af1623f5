"""``TrainingFreeTuner(model_fn=...)``: the NNI tuner on a user's own search space and model family.

The search space is any flat NNI search space (``choice``, ``randint``,
``uniform``, ``quniform``, ``loguniform``, ``qloguniform``); each candidate's
model is ``model_fn(params)``, scored by :func:`tenas_automl.score_model`. The
last test runs it in a real ``nnictl`` experiment.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytest.importorskip("nni")

import nni  # noqa: E402
from _nnictl import experiment  # noqa: E402

from tenas_automl.errors import TenasError  # noqa: E402
from tenas_automl.integrations.nni.tuner import CHECKPOINT_FILE, TrainingFreeTuner  # noqa: E402
from tenas_automl.spaces.params import (  # noqa: E402
    Categorical,
    FloatParam,
    IntParam,
    ParamError,
    ParamSpace,
    from_nni_search_space,
)

pytestmark = pytest.mark.nni

#: A small CNN family: depth conv-BN-activation blocks of one width and kernel, then a linear head.
MODEL_SOURCE = """
from torch import nn


def build(params):
    if params.get("width") == 13:
        raise ValueError("width 13 is unlucky")
    width, kernel = int(params["width"]), int(params["kernel"])
    act = {"relu": nn.ReLU, "gelu": nn.GELU}[params["act"]]
    layers, c = [], 3
    for _ in range(int(params["depth"])):
        layers += [nn.Conv2d(c, width, kernel, padding=kernel // 2), nn.BatchNorm2d(width), act()]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(params["dropout"]), nn.Linear(c, 10))
"""

SEARCH_SPACE: dict[str, Any] = {
    "depth": {"_type": "randint", "_value": [1, 4]},
    "width": {"_type": "quniform", "_value": [8, 24, 8]},
    "kernel": {"_type": "choice", "_value": [3, 5]},
    "act": {"_type": "choice", "_value": ["relu", "gelu"]},
    "dropout": {"_type": "uniform", "_value": [0.0, 0.5]},
}
CHEAP: dict[str, Any] = {"population_size": 6, "candidates": 3, "overrides": {"naswot": {"batch_size": 16}}}


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "cnn_space.py"
    path.write_text(MODEL_SOURCE)
    return path


def make_tuner(model_file: Path, search_space: dict[str, Any] = SEARCH_SPACE, **kwargs: Any) -> TrainingFreeTuner:
    tuner = TrainingFreeTuner(model_fn=f"{model_file}:build", **{**CHEAP, **kwargs})
    tuner.update_search_space(search_space)
    return tuner


# -- the search space -----------------------------------------------------------------
def test_nni_search_space_types() -> None:
    space = from_nni_search_space(
        {
            **SEARCH_SPACE,
            "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
            "batch": {"_type": "qloguniform", "_value": [16, 256, 16]},
        }
    )
    assert space.space["depth"] == IntParam(1, 3)  # randint's high is exclusive
    assert space.space["width"] == FloatParam(8.0, 24.0, 8.0)
    assert space.space["act"] == Categorical(("relu", "gelu"))
    assert space.space["lr"] == FloatParam(1e-4, 1e-1, None, True)
    rng = np.random.default_rng(0)
    draws = [space.params(space.sample(rng)) for _ in range(300)]
    assert {d["depth"] for d in draws} == {1, 2, 3} and {d["width"] for d in draws} == {8.0, 16.0, 24.0}
    assert all(1e-4 <= d["lr"] <= 1e-1 and 0.0 <= d["dropout"] <= 0.5 for d in draws)
    assert all(d["batch"] % 16 == 0 and 16 <= d["batch"] <= 256 for d in draws)
    # Log-uniform: about as many draws in each decade.
    decades = np.histogram(np.log10([d["lr"] for d in draws]), bins=[-4, -3, -2, -1])[0]
    assert decades.min() > 60
    for d in draws[:20]:
        values = space.arch(d)
        assert space.parse(space.format(values)) == values
        child = space.params(space.mutate(values, rng))
        assert sum(child[k] != d[k] for k in d) == 1 and space.contains(child)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"_type": "normal", "_value": [0, 1]}, "unbounded"),
        ({"_type": "choice", "_value": [{"_name": "a", "x": {"_type": "choice", "_value": [1]}}]}, "nested choice"),
        ({"_type": "randint", "_value": [5, 5]}, "low < high"),
        ({"_type": "uniform", "_value": [1.0]}, "needs 2 numbers"),
        ({"_type": "loguniform", "_value": [0.0, 1.0]}, "low > 0"),
        ({"_type": "choice", "_value": []}, "non-empty '_value'"),
        ({"_type": "mutable_layer", "_value": [1]}, "allowed: choice, randint"),
    ],
)
def test_bad_nni_search_space_entries(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=message) as info:
        from_nni_search_space({"depth": {"_type": "randint", "_value": [1, 4]}, "bad": entry})
    assert "'bad'" in str(info.value) and "\n" not in str(info.value)


def test_enumerate_and_size() -> None:
    space = ParamSpace({"a": IntParam(0, 6, step=3), "b": Categorical(("x", "y")), "c": FloatParam(0.0, 1.0, 0.5)})
    listed = list(space.enumerate())
    assert space.size() == len(listed) == 3 * 2 * 3 and len(set(listed)) == len(listed)
    assert all(space.contains(space.params(v)) for v in listed)
    assert math.isinf(ParamSpace({"c": FloatParam(0.0, 1.0)}).size())


# -- the tuner ------------------------------------------------------------------------
def test_model_tuner_proposes_by_indicators(model_file: Path) -> None:
    tuner = make_tuner(model_file)
    params = tuner.generate_multiple_parameters(list(range(4)))
    assert len({json.dumps(p, sort_keys=True) for p in params}) == 4
    assert all(tuner.space.contains(p) for p in params)
    # Before any metric the pool is proposed best naswot first: the first is the pool's best.
    pool = [tuner.scores[a]["naswot"] for a in tuner.pool]
    assert tuner.scores[tuner.space.format(tuner.space.arch(params[0]))]["naswot"] == max(pool)
    # GELU-only models have no ReLU codes: naswot -inf, proposed only after every ReLU model.
    acts = [p["act"] for p in params]
    assert acts == sorted(acts, key=lambda a: a != "relu")
    # Same seed, same proposals; another seed, other ones.
    assert make_tuner(model_file).generate_multiple_parameters(list(range(4))) == params
    assert make_tuner(model_file, seed=1).generate_multiple_parameters(list(range(4))) != params


def test_model_tuner_evolves_from_metrics_and_resumes(model_file: Path, tmp_path: Path) -> None:
    tuner = make_tuner(model_file, checkpoint_dir=tmp_path / "ckpt", tournament_size=4)
    first = tuner.generate_multiple_parameters(list(range(4)))
    for i, p in enumerate(first):
        tuner.receive_trial_result(i, p, {"default": float(p["depth"] * 10 + p["width"])})
    best = max(first, key=lambda p: p["depth"] * 10 + p["width"])
    assert tuner.best() is not None and tuner.best().params == best
    resumed = TrainingFreeTuner(model_fn=f"{model_file}:build", checkpoint_dir=tmp_path / "ckpt", tournament_size=4, **CHEAP)
    resumed.update_search_space(SEARCH_SPACE)
    resumed.load_checkpoint()
    child = tuner.generate_parameters(4)
    assert resumed.generate_parameters(4) == child  # the checkpoint holds the generator and the scores
    # The tournament covers all four finished trials: the child is a one-parameter mutation of the best.
    assert sum(child[k] != best[k] for k in best) == 1
    state = json.loads((tmp_path / "ckpt" / CHECKPOINT_FILE).read_text())
    assert state["space"] == f"model_fn:{model_file}:build" and len(state["results"]) == 4


def test_model_fn_failures_rank_last(model_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    space = {**SEARCH_SPACE, "width": {"_type": "choice", "_value": [13, 16]}, "act": {"_type": "choice", "_value": ["relu"]}}
    with caplog.at_level(logging.WARNING, logger="tenas_automl.integrations.nni.tuner"):
        tuner = make_tuner(model_file, space)
        params = tuner.generate_multiple_parameters(list(range(6)))
    widths = [p["width"] for p in params]
    assert 13 in widths and widths == sorted(widths, key=lambda w: w == 13)  # failures last
    failed = [r for r in caplog.records if "could not be scored" in r.getMessage()]
    assert failed and all('"width": 13' in r.getMessage() and "unlucky" in r.getMessage() for r in failed)


def test_model_tuner_bad_arguments(model_file: Path, tmp_path: Path) -> None:
    with pytest.raises(TenasError, match="a space .* or a model_fn, not both"):
        TrainingFreeTuner(space="nb201", model_fn=f"{model_file}:build")
    with pytest.raises(TenasError, match="expected MODULE:NAME"):
        TrainingFreeTuner(model_fn="no_colon_here")
    with pytest.raises(TenasError, match="has no callable 'nope'"):
        TrainingFreeTuner(model_fn=f"{model_file}:nope")
    with pytest.raises(TenasError, match="'lr' needs a supernet"):
        TrainingFreeTuner(model_fn=f"{model_file}:build", indicators=["naswot", "lr"])
    tuner = TrainingFreeTuner(model_fn=f"{model_file}:build", **CHEAP)
    with pytest.raises(TenasError, match="needs NNI's search space first"):
        tuner.generate_parameters(0)
    with pytest.raises(ParamError, match="'depth'.*unbounded"):
        tuner.update_search_space({"depth": {"_type": "qnormal", "_value": [2, 1, 1]}})
    tuner.update_search_space(SEARCH_SPACE)
    tuner.receive_trial_result(7, {"depth": 9, "width": 8.0}, 1.0)  # a customised trial outside the space
    assert not tuner.results


def test_model_tuner_runs_out(model_file: Path) -> None:
    tiny = {"depth": {"_type": "choice", "_value": [1, 2]}, "width": {"_type": "choice", "_value": [8]},
            "kernel": {"_type": "choice", "_value": [3]}, "act": {"_type": "choice", "_value": ["relu"]},
            "dropout": {"_type": "choice", "_value": [0.0]}}  # fmt: skip
    tuner = make_tuner(model_file, tiny)
    assert len(tuner.generate_multiple_parameters([0, 1, 2])) == 2
    with pytest.raises(nni.NoMoreTrialError):
        tuner.generate_parameters(3)


# -- real nnictl ------------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nni_tuner_cnn"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks leftover processes through /proc")
def test_nnictl_experiment_with_model_fn(tmp_path: Path) -> None:
    """examples/nni_tuner_cnn as shipped, with 4 trials of 3 training steps each."""
    exp_root = tmp_path / "nni-experiments"
    config = yaml.safe_load((EXAMPLE / "config.yml").read_text())
    config.update(
        trialCommand=f"{sys.executable} trial.py --steps 3", trialCodeDirectory=str(EXAMPLE), maxTrialNumber=4,
        experimentWorkingDirectory=str(exp_root), searchSpaceFile=str(EXAMPLE / "search_space.json"),
    )  # fmt: skip
    config["tuner"]["codeDirectory"] = str(EXAMPLE)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    with experiment(tmp_path / "config.yml", tmp_path, exp_root) as done:
        assert done.status == "DONE", f"status {done.status}; {done.errors}\ndispatcher log:\n{done.dispatcher_log[-3000:]}"
        assert len(done.trials) == 4 and all(t.status == "SUCCEEDED" for t in done.trials)
        state = json.loads((done.folder / "checkpoint" / CHECKPOINT_FILE).read_text())
    space = from_nni_search_space(json.loads((EXAMPLE / "search_space.json").read_text()))
    by_id = sorted(state["results"], key=lambda r: r["parameter_id"])
    proposed = [space.format(space.arch(r["params"])) for r in by_id]
    assert len(set(proposed)) == 4 and all(a in state["scores"] for a in proposed)
    # Every trial trained the model of its parameters and reported a validation accuracy.
    assert all(r["status"] == "succeeded" and 0.0 <= r["metric"] <= 100.0 for r in by_id)
    # The first two proposals (before any metric) were the naswot-best two of the scored pool, in order.
    pool = sorted((state["scores"][a]["naswot"] for a in state["pool"]), reverse=True)
    assert [state["scores"][a]["naswot"] for a in proposed[:2]] == pool[:2]
    assert len(state["pool"]) == config["tuner"]["classArgs"]["population_size"]
