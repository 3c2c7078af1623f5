"""The training-free NNI HPO tuner, the search-space codec, and a real ``nnictl`` experiment.

Unit tests call the tuner the way NNI's dispatcher does (update_search_space,
generate_multiple_parameters, receive_trial_result, trial_end, import_data,
load_checkpoint) with cheap indicator settings. The end-to-end test launches
``nnictl create`` on a free localhost port with HOME and the experiment
folder in ``tmp_path``, waits for 4 benchmark trials, checks them through
NNI's REST API and stops the experiment, making sure no process survives.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("nni")

import nni  # noqa: E402
from _nnictl import experiment, nnictl, nnictl_env  # noqa: E402

from tenas_automl.errors import TenasError, UnknownNameError  # noqa: E402
from tenas_automl.indicators import rank_sum  # noqa: E402
from tenas_automl.integrations.nni.config import (  # noqa: E402
    TUNER_CLASS,
    InvalidSearchSpaceError,
    arch_from_params,
    choices_for,
    params_from_arch,
    parse_search_space,
    search_space_for,
    write_nni_config,
)
from tenas_automl.integrations.nni.tuner import CHECKPOINT_FILE, TrainingFreeTuner  # noqa: E402
from tenas_automl.spaces import get_space  # noqa: E402
from tenas_automl.spaces.darts.genotypes import DARTS_V2  # noqa: E402

pytestmark = pytest.mark.nni

NB201 = get_space("nb201")
#: Same code paths as the defaults at a fraction of the cost.
CHEAP: dict[str, Any] = {
    "population_size": 6,
    "candidates": 3,
    "overrides": {"ntk": {"batch_size": 8}, "lr": {"batch_size": 100}},
}
REFERENCE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def make_tuner(**kwargs: Any) -> TrainingFreeTuner:
    tuner = TrainingFreeTuner(**{**CHEAP, **kwargs})
    tuner.update_search_space(search_space_for(tuner.space))
    return tuner


def accuracy(params: dict[str, Any]) -> float:
    acc = NB201.benchmark_accuracy(arch_from_params(params, NB201), "cifar10")
    assert acc is not None
    return float(acc)


# -- the search-space codec ------------------------------------------------------


def test_search_space_keys_and_round_trip() -> None:
    space = search_space_for("nb201")
    assert list(space) == ["edge_1<-0", "edge_2<-0", "edge_2<-1", "edge_3<-0", "edge_3<-1", "edge_3<-2"]
    assert all(v == {"_type": "choice", "_value": list(NB201.ops)} for v in space.values())
    params = params_from_arch(REFERENCE, "nb201")
    # Edge j->i of the arch string is key edge_i<-j.
    assert params["edge_2<-1"] == "avg_pool_3x3" and params["edge_3<-2"] == "skip_connect"
    assert str(arch_from_params(params, "nb201")) == REFERENCE

    darts = search_space_for("darts")
    assert len(darts) == 32 and darts["reduce_node5_input1"]["_value"] == [0, 1, 2, 3, 4]
    assert "none" not in darts["normal_node2_op0"]["_value"]
    dparams = params_from_arch(DARTS_V2, "darts")
    assert dparams["normal_node2_op0"] == DARTS_V2.normal[0][0]
    assert dparams["reduce_node5_input1"] == DARTS_V2.reduce[7][1]
    assert arch_from_params(json.loads(json.dumps(dparams)), "darts") == DARTS_V2
    assert parse_search_space(json.loads(json.dumps(darts)), "darts") == choices_for("darts")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda s: s.pop("edge_3<-2"), "lacks key 'edge_3<-2'"),
        (lambda s: s.update(lr={"_type": "uniform", "_value": [0, 1]}), "unknown key 'lr'"),
        (lambda s: s.update({"edge_2<-1": {"_type": "uniform", "_value": [0, 1]}}), "'edge_2<-1' must be"),
        (lambda s: s.update({"edge_1<-0": {"_type": "choice", "_value": ["conv_3x3"]}}), "'edge_1<-0' offers"),
        (lambda s: s.update({"edge_3<-0": {"_type": "choice", "_value": []}}), "'edge_3<-0' needs a non-empty"),
    ],
)
def test_bad_search_space_names_the_key(edit: Any, needle: str) -> None:
    space = search_space_for("nb201")
    edit(space)
    tuner = TrainingFreeTuner(**CHEAP)
    with pytest.raises(InvalidSearchSpaceError) as err:
        tuner.update_search_space(space)
    assert needle in str(err.value)
    if "offers" in needle:  # says what is allowed
        assert "nor_conv_3x3" in str(err.value)


def test_darts_inputs_must_allow_two_distinct_values() -> None:
    space = search_space_for("darts")
    space["normal_node3_input0"]["_value"] = [1]
    space["normal_node3_input1"]["_value"] = [1]
    with pytest.raises(InvalidSearchSpaceError, match="normal_node3_input0.*normal_node3_input1"):
        parse_search_space(space, "darts")


def test_bad_tuner_arguments() -> None:
    with pytest.raises(UnknownNameError, match="'nb301'.*nb201, darts"):
        TrainingFreeTuner(space="nb301")
    with pytest.raises(UnknownNameError, match="indicator 'ntkk'"):
        TrainingFreeTuner(indicators=["ntkk"])
    with pytest.raises(UnknownNameError, match="optimize_mode"):
        TrainingFreeTuner(optimize_mode="max")
    with pytest.raises(TenasError, match="population_size"):
        TrainingFreeTuner(population_size=0)


def test_inside_nni_dispatcher_setup_is_deferred(monkeypatch: pytest.MonkeyPatch) -> None:
    """NNI allows its tuner process 10 s to connect: torch loads in the background there."""
    monkeypatch.setenv("SDK_PROCESS", "dispatcher")
    bad = TrainingFreeTuner(indicators=["ntkk"])  # returns at once
    with pytest.raises(UnknownNameError, match="indicator 'ntkk'"):
        bad.update_search_space(search_space_for("nb201"))  # NNI's first command
    good = TrainingFreeTuner(**CHEAP)
    good.update_search_space(search_space_for("nb201"))
    assert good.generate_multiple_parameters([0]) == make_tuner().generate_multiple_parameters([0])


# -- proposals -------------------------------------------------------------------


def test_concurrent_proposals_are_valid_and_distinct() -> None:
    tuner = make_tuner(seed=3)
    params = tuner.generate_multiple_parameters(list(range(10)))
    assert len(params) == 10 and len(tuner.pending) == 10
    archs = [arch_from_params(p, NB201) for p in params]  # raises on anything invalid
    # No two proposals in flight compute the same cell (NB201 isomorphism classes).
    assert len({NB201.unique_str(a) for a in archs}) == 10
    # Same seed, same proposals; the first is the best of the indicator-scored pool (rank sum).
    again = make_tuner(seed=3)
    assert again.generate_multiple_parameters([0]) == params[:1]
    pool = [NB201.parse(a) for a in again.pool]
    values = [again.scores[str(a)] for a in pool]
    ranks = rank_sum({n: [v[n] for v in values] for n in ("ntk", "lr")}, method="min")
    assert len(pool) == 6 and archs[0] == pool[int(ranks.argmin())]


def test_restricted_space_is_respected_and_runs_out() -> None:
    space = {k: {"_type": "choice", "_value": ["nor_conv_3x3"]} for k in search_space_for("nb201")}
    space["edge_1<-0"]["_value"] = ["nor_conv_1x1", "nor_conv_3x3"]
    tuner = TrainingFreeTuner(**CHEAP)
    tuner.update_search_space(space)
    params = tuner.generate_multiple_parameters([0, 1, 2])
    assert len(params) == 2  # only two cells exist: NNI gets fewer, as the Tuner API says
    assert {p["edge_1<-0"] for p in params} == {"nor_conv_1x1", "nor_conv_3x3"}
    assert all(v == "nor_conv_3x3" for p in params for k, v in p.items() if k != "edge_1<-0")
    with pytest.raises(nni.NoMoreTrialError):
        tuner.generate_parameters(3)


@pytest.mark.parametrize("optimize_mode", ["maximize", "minimize"])
def test_parents_come_from_reported_metrics(optimize_mode: str) -> None:
    tuner = make_tuner(seed=1, tournament_size=6, optimize_mode=optimize_mode)
    params = tuner.generate_multiple_parameters([0, 1, 2, 3])
    metrics = [accuracy(p) for p in params]
    for i, (p, m) in enumerate(zip(params, metrics)):
        tuner.receive_trial_result(i, p, {"default": m, "note": "dicts work"}, trial_job_id=f"job{i}")
    best = max if optimize_mode == "maximize" else min
    parent = params[metrics.index(best(metrics))]
    assert tuner.best() is not None and tuner.best().params == parent
    # The tournament covers every finished trial, so each child mutates the best one: one key differs.
    for child in tuner.generate_multiple_parameters([4, 5, 6]):
        assert sum(child[k] != parent[k] for k in parent) == 1


def test_results_failures_and_late_metrics() -> None:
    tuner = make_tuner()
    a, b, c = tuner.generate_multiple_parameters([0, 1, 2])
    tuner.trial_end(0, success=False)  # crashed: no metric
    tuner.trial_end(1, success=True)  # NNI may deliver the metric after the end event
    tuner.receive_trial_result(1, b, 91.5)
    tuner.receive_trial_result(2, c, "not a number")
    by_arch = {r.arch: r for r in tuner.results}
    assert len(tuner.results) == 3 and not tuner.pending
    assert by_arch[str(arch_from_params(a))].status == "failed" and by_arch[str(arch_from_params(a))].metric is None
    assert by_arch[str(arch_from_params(b))].metric == 91.5
    assert by_arch[str(arch_from_params(c))].status == "failed"
    assert tuner.best() is not None and tuner.best().metric == 91.5


# -- checkpoint and resume -------------------------------------------------------


def test_checkpoint_resume_continues_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Like NNI: the checkpoint folder comes from $NNI_CHECKPOINT_DIRECTORY.
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    first = make_tuner(seed=5)
    params = first.generate_multiple_parameters([0, 1, 2])
    for i in (0, 1):
        first.receive_trial_result(i, params[i], accuracy(params[i]), trial_job_id=f"job{i}")
    assert (tmp_path / CHECKPOINT_FILE).is_file()  # written after every change, unasked

    resumed = TrainingFreeTuner(**{**CHEAP, "seed": 5})
    resumed.load_checkpoint()  # what NNI calls first on `nnictl resume`
    resumed.update_search_space(search_space_for("nb201"))
    before, after = first.state_dict(), resumed.state_dict()
    for key in ("results", "tried", "rng", "pool", "scores"):
        assert after[key] == before[key], key
    assert after["pending"] == []  # trial 2 was in flight: still "tried", rerun by NNI
    # Nothing was lost: both continue with the same proposal, and nothing is rescored.
    assert resumed.generate_parameters(7) == first.generate_parameters(7)
    assert resumed.state_dict()["scores"] == first.state_dict()["scores"]  # NaN as None

    # NNI then replays every finished trial through import_data: no double counting,
    # and the rerun in-flight trial's result is learned.
    replay = [{"parameter": params[i], "value": accuracy(params[i]), "trialJobId": f"job{i}"} for i in (0, 1)]
    resumed.import_data([*replay, {"parameter": params[2], "value": 99.0}, {"parameter": {"bad": 1}, "value": 1.0}])
    assert len(resumed.results) == 3
    assert resumed.best() is not None and resumed.best().params == params[2]

    # Other indicator settings: results are kept, indicator values are not reused.
    other = TrainingFreeTuner(**{**CHEAP, "seed": 6})
    other.load_checkpoint()
    assert len(other.results) == 3 and other.scores == {}


# -- the experiment folder --------------------------------------------------------


def test_write_nni_config(tmp_path: Path) -> None:
    from nni.experiment.config import ExperimentConfig

    paths = write_nni_config("nb201", tmp_path / "exp", benchmark=True, trials=7, concurrency=3, seed=4)
    assert set(paths) == {"config", "search_space", "trial"} and all(p.is_file() for p in paths.values())
    raw = yaml.safe_load(paths["config"].read_text())
    assert raw["trialCommand"] == "python trial.py --space nb201 --benchmark"
    assert raw["tuner"]["classArgs"]["seed"] == 4 and raw["tuner"]["className"] == TUNER_CLASS
    assert json.loads(paths["search_space"].read_text()) == search_space_for("nb201")
    # NNI's own loader accepts it (className needs codeDirectory in NNI 3.0).
    config = ExperimentConfig.load(str(paths["config"])).canonical_copy()
    assert (config.trial_concurrency, config.max_trial_number) == (3, 7)
    assert Path(config.trial_code_directory) == tmp_path / "exp"
    assert config.tuner.class_name == TUNER_CLASS and config.tuner.class_args["space"] == "nb201"
    # The class arguments build a tuner.
    TrainingFreeTuner(**config.tuner.class_args)

    darts = write_nni_config("darts", tmp_path / "darts", tuner_args={"scoring": "paper"})
    assert yaml.safe_load(darts["config"].read_text())["tuner"]["classArgs"]["scoring"] == "paper"
    with pytest.raises(TenasError, match="tabular benchmark, which space .darts. has not"):
        write_nni_config("darts", tmp_path / "x", benchmark=True)
    with pytest.raises(TenasError, match="trials"):
        write_nni_config("nb201", tmp_path / "x", trials=0)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_trial_script_trains_outside_nni(space: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    trial = write_nni_config(space, tmp_path)["trial"]
    arch = REFERENCE if space == "nb201" else DARTS_V2
    params = json.dumps(params_from_arch(arch, space))
    monkeypatch.setattr(sys, "argv", ["trial.py", "--space", space, "--steps", "2", "--params", params])
    with caplog.at_level(logging.INFO, logger="tenas_automl.trial"):
        runpy.run_path(str(trial), run_name="__main__")
    lines = [r.getMessage() for r in caplog.records if r.name == "tenas_automl.trial"]
    assert lines[0] == f"architecture: {get_space(space).format(arch)}"
    acc = float(lines[-1].split()[-1].rstrip("%"))
    assert 0.0 <= acc <= 100.0


def test_training_free_tuner_alias_in_nni_module() -> None:
    """The lead re-exports the tuner, so YAML can say tenas_automl.integrations.nni.TrainingFreeTuner."""
    pytest.importorskip("pytorch_lightning")
    from tenas_automl.integrations import nni as nni_integration

    assert nni_integration.TrainingFreeTuner is TrainingFreeTuner


# -- real nnictl -------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks leftover processes through /proc")
def test_nnictl_experiment_end_to_end(tmp_path: Path) -> None:
    exp_root = tmp_path / "nni-experiments"
    paths = write_nni_config(
        "nb201", tmp_path / "exp", benchmark=True, trials=4, concurrency=2, seed=0,
        tuner_args={"population_size": 8, "candidates": 4}, python=sys.executable, experiment_dir=exp_root,
    )  # fmt: skip
    with experiment(paths["config"], tmp_path, exp_root) as done:
        assert done.status == "DONE", f"status {done.status}; {done.errors}\ndispatcher log:\n{done.dispatcher_log[-3000:]}"
        trials = done.trials
        assert len(trials) == 4 and all(t.status == "SUCCEEDED" for t in trials)
        archs = [arch_from_params(t.hyperParameters[0].parameters, NB201) for t in trials]
        assert len({NB201.unique_str(a) for a in archs}) == 4
        # Every reported metric is the benchmark accuracy of one of the proposals. (NNI 3.0's
        # local service may list a trial with its sibling's parameters, so compare as multisets.)
        reported = Counter(round(t.finalMetricData[0].data, 6) for t in trials)
        assert reported == Counter(round(float(NB201.benchmark_accuracy(a, "cifar10")), 6) for a in archs)
        # The tuner received all four results, each paired with its own architecture.
        state = json.loads((done.folder / "checkpoint" / CHECKPOINT_FILE).read_text())
        assert [r["status"] for r in state["results"]] == ["succeeded"] * 4
        for row in state["results"]:
            assert row["metric"] == pytest.approx(NB201.benchmark_accuracy(row["arch"], "cifar10"))


def test_nnictl_algo_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nnictl algo register` makes the tuner a named one (`tuner: {name: TrainingFree}`)."""
    from nni.tools.package_utils.tuner_factory import create_builtin_class_instance

    env = nnictl_env(tmp_path)
    meta = tmp_path / "meta.yml"
    meta.write_text(f"algoType: tuner\nbuiltinName: TrainingFree\nclassName: {TUNER_CLASS}\n")
    done = nnictl(["algo", "register", "--meta", str(meta)], env)
    assert done.returncode == 0 and "registered" in done.stdout, done.stdout + done.stderr
    monkeypatch.setenv("NNI_CONFIG_DIR", env["NNI_CONFIG_DIR"])
    tuner = create_builtin_class_instance("TrainingFree", {**CHEAP, "population_size": 4}, "tuners")
    assert isinstance(tuner, TrainingFreeTuner) and tuner.population_size == 4
