"""Optuna integration: parameters, TrainingFreeSampler, TrainingFreePruner, run_optuna_study.

Every study here is a real Optuna study, most on a temporary SQLite file. The
indicators are cheap ones ("params", and "naswot" on a tiny network) so that
the file runs in well under a minute; the paper's NTK + linear regions run in
the slow test only.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tenas_automl.errors import TenasError
from tenas_automl.indicators import evaluate
from tenas_automl.integrations.optuna import (
    ARCH_ATTR,
    ORIGIN_ATTR,
    PRUNED_ATTR,
    ArchitectureParamError,
    TrainingFreePruner,
    TrainingFreeSampler,
    architecture_distributions,
    architecture_from_params,
    architecture_params,
    run_optuna_study,
    suggest_architecture,
)
from tenas_automl.integrations.optuna._study import preset_overrides
from tenas_automl.spaces import get_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

INDICATORS = ("naswot", "params")
TINY = {"naswot": {"width": 4, "cells": 1, "batch_size": 16}, "params": {"width": 4, "cells": 1}}
NB201_NAMES = [f"nb201/edge_{i}<-{j}" for i, j in ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))]
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
PARAMS_ONLY = {"params": TINY["params"]}


@pytest.fixture(autouse=True)
def _score_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep score_many's disk cache out of the home folder (worker processes inherit it).
    monkeypatch.setenv("TENAS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "score-cache"))


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def darts():
    return get_space("darts")


def _sampler(space, **kw):
    kw.setdefault("seed", 0)
    kw.setdefault("candidates", 4)
    kw.setdefault("n_startup_trials", 3)
    return TrainingFreeSampler(space, indicators=INDICATORS, overrides=TINY, device="cpu", **kw)


def _accuracy_objective(space):
    def objective(trial):
        return space.benchmark_accuracy(suggest_architecture(trial, space), "cifar10")

    return objective


def _pruned_accuracy_objective(space):
    """Like :func:`_accuracy_objective`, but asks the pruner before "training"."""

    def objective(trial):
        arch = suggest_architecture(trial, space)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return space.benchmark_accuracy(arch, "cifar10")

    return objective


def _hamming(space, a, b) -> int:
    pa, pb = architecture_params(a, space), architecture_params(b, space)
    return sum(pa[k] != pb[k] for k in pa)


def _archs(study, space):
    return [architecture_from_params(t.params, space) for t in study.trials if t.state == TrialState.COMPLETE]


# -- parameters ----------------------------------------------------------------------
def test_nb201_parameter_names_and_round_trip(nb201) -> None:
    dists = architecture_distributions(nb201)
    assert list(dists) == NB201_NAMES
    assert all(d.choices == NB201_OPS for d in dists.values())
    arch = nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    params = architecture_params(arch, nb201)
    assert params["nb201/edge_2<-1"] == "avg_pool_3x3" and params["nb201/edge_3<-2"] == "skip_connect"
    assert suggest_architecture(optuna.trial.FixedTrial(params), nb201) == arch
    rng = np.random.default_rng(0)
    for _ in range(100):
        a = nb201.sample(rng)
        assert architecture_from_params(architecture_params(a, nb201), nb201) == a


def test_darts_parameters_keep_inputs_distinct(darts) -> None:
    dists = architecture_distributions(darts)
    assert len(dists) == 24
    assert dists["darts/normal/node2/inputs"].choices == ("0,1",)
    pairs = ("0,1", "0,2", "0,3", "0,4", "1,2", "1,3", "1,4", "2,3", "2,4", "3,4")
    assert dists["darts/reduce/node5/inputs"].choices == pairs
    assert "none" not in dists["darts/normal/node3/op0"].choices
    rng = np.random.default_rng(1)
    for _ in range(50):
        g = darts.sample(rng)
        assert architecture_from_params(architecture_params(g, darts), darts) == g
    # The order of a node's two pairs does not change the parameters.
    g = darts.sample(rng)
    swapped = type(g).of([g.normal[1], g.normal[0], *g.normal[2:]], g.reduce)
    assert architecture_params(swapped, darts) == architecture_params(g, darts)
    # Any sampler gives valid genotypes with two distinct inputs per node.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: float(len(str(suggest_architecture(t, darts)))), n_trials=20)
    for g in _archs(study, darts):
        for cell in ("normal", "reduce"):
            for n in (2, 3, 4, 5):
                (_, a), (_, b) = g.node_pairs(cell, n)
                assert a != b


# -- sampler -------------------------------------------------------------------------
def test_sampler_proposes_scored_unique_archs(nb201, tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", sampler=_sampler(nb201), storage=f"sqlite:///{tmp_path / 's.db'}")
    study.optimize(_accuracy_objective(nb201), n_trials=10)
    trials = study.trials
    archs = _archs(study, nb201)
    assert len(archs) == 10 and len(set(archs)) == 10
    # The stored attributes are the architecture's own indicator values.
    masks = [nb201.arch_to_mask(a) for a in archs]
    direct = evaluate(nb201, masks, list(INDICATORS), seed=0, device="cpu", overrides=TINY)
    for i, t in enumerate(trials):
        assert t.user_attrs[ARCH_ATTR] == nb201.format(archs[i])
        for n in INDICATORS:
            assert t.user_attrs[f"tenas:{n}"] == pytest.approx(direct[n][i])
    origins = [t.user_attrs["tenas:origin"] for t in trials]
    assert origins[:3] == ["startup"] * 3 and set(origins[3:]) == {"mutation"}
    # Mutation trials are one-op neighbours of an earlier trial.
    for i in range(3, 10):
        assert min(_hamming(nb201, archs[i], archs[j]) for j in range(i)) == 1


def test_plot_study_draws_one_panel_per_stored_indicator(nb201, tmp_path: Path) -> None:
    from matplotlib.image import imread

    from tenas_automl.integrations.optuna import plot_study

    study = optuna.create_study(direction="maximize", sampler=_sampler(nb201))
    study.optimize(_accuracy_objective(nb201), n_trials=4)
    path = plot_study(study, tmp_path / "study.png", nb201)
    height, width = imread(path).shape[:2]
    assert (width, height) == (round(4.4 * 3 * 110), round(3.4 * 110))  # objective + naswot + params
    plain = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))  # minimising, no indicators
    plain.optimize(lambda t: -_accuracy_objective(nb201)(t), n_trials=3)
    assert imread(plot_study(plain, tmp_path / "plain.png")).shape[1] == round(4.4 * 110)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.png", "study.png"]  # nothing half-written


def test_sampler_is_deterministic_and_respects_direction(nb201) -> None:
    def run(direction: str, seed: int = 0) -> list:
        # Tournament = whole population: the parent is the best trial so far.
        sampler = _sampler(nb201, seed=seed, population_size=50, tournament_size=50)
        study = optuna.create_study(direction=direction, sampler=sampler)
        study.optimize(_accuracy_objective(nb201), n_trials=9)
        return _archs(study, nb201)

    first = run("maximize")
    assert run("maximize") == first
    assert run("maximize", seed=1) != first
    for direction, pick in (("maximize", max), ("minimize", min)):
        archs = run(direction)
        acc = [nb201.benchmark_accuracy(a, "cifar10") for a in archs]
        for i in range(3, len(archs)):
            parent = archs[pick(range(i), key=lambda j: (acc[j], -j) if pick is max else (acc[j], j))]
            assert _hamming(nb201, archs[i], parent) == 1, (direction, i)


def test_sampler_on_darts_proposes_valid_genotypes(darts) -> None:
    sampler = TrainingFreeSampler(
        darts, indicators=("naswot",), overrides={"naswot": TINY["naswot"]}, device="cpu",
        seed=0, candidates=3, n_startup_trials=2,
    )  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=sampler)

    # Objective: number of separable convolutions in the normal cell.
    def objective(trial):
        return float(sum(op.startswith("sep") for op, _ in suggest_architecture(trial, darts).normal))

    study.optimize(objective, n_trials=5)
    archs = _archs(study, darts)
    assert len(set(archs)) == 5
    for t, g in zip(study.trials, archs):
        assert t.user_attrs[ARCH_ATTR] == darts.format(g)
        assert np.isfinite(t.user_attrs["tenas:naswot"])
    assert [t.user_attrs["tenas:origin"] for t in study.trials] == ["startup"] * 2 + ["mutation"] * 3


def test_enqueued_arch_is_kept_and_recorded(nb201) -> None:
    study = optuna.create_study(direction="maximize", sampler=_sampler(nb201))
    fixed = nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    study.enqueue_trial(architecture_params(fixed, nb201))
    study.optimize(_accuracy_objective(nb201), n_trials=4)
    archs = _archs(study, nb201)
    assert archs[0] == fixed and fixed not in archs[1:]
    assert study.trials[0].user_attrs["tenas:origin"] == "enqueued"
    assert study.trials[0].user_attrs[ARCH_ATTR] == nb201.format(fixed)


def test_ctrl_c_while_scoring_an_enqueued_arch_leaves_no_running_trial(nb201, tmp_path: Path) -> None:
    sampler = _sampler(nb201)
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=f"sqlite:///{tmp_path / 's.db'}")
    study.enqueue_trial(architecture_params(nb201.sample(np.random.default_rng(1)), nb201))

    def interrupted(arch):
        raise KeyboardInterrupt

    sampler.scorer.score = interrupted  # Ctrl-C during scoring, which Optuna runs outside the objective
    with pytest.raises(KeyboardInterrupt):
        study.optimize(_accuracy_objective(nb201), n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # not RUNNING for good
    del sampler.scorer.score
    study.optimize(_accuracy_objective(nb201), n_trials=2)  # the study goes on
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]


@pytest.mark.parametrize("on_disk", [False, True])
def test_threads_share_one_sampler(nb201, tmp_path: Path, on_disk: bool) -> None:
    storage = f"sqlite:///{tmp_path / 'threads.db'}" if on_disk else None
    study = optuna.create_study(direction="maximize", sampler=_sampler(nb201), storage=storage)
    study.optimize(_accuracy_objective(nb201), n_trials=8, n_jobs=2)
    archs = _archs(study, nb201)
    assert len(archs) == 8 and len(set(archs)) == 8


def test_other_parameters_go_to_the_fallback_sampler(nb201) -> None:
    assert isinstance(_sampler(nb201).fallback, optuna.samplers.TPESampler)

    def objective(trial):
        arch = suggest_architecture(trial, nb201)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_int("width", 8, 64)
        return nb201.benchmark_accuracy(arch, "cifar10") - lr

    runs = []
    for _ in range(2):
        sampler = _sampler(nb201, fallback=optuna.samplers.RandomSampler(seed=5))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=6)
        assert all(t.user_attrs[ORIGIN_ATTR] in ("startup", "mutation") for t in study.trials)
        runs.append([(t.params["lr"], t.params["width"]) for t in study.trials])
        assert all(1e-4 <= lr <= 1e-1 and 8 <= w <= 64 for lr, w in runs[-1])
    assert runs[0] == runs[1] and len(set(runs[0])) == 6  # the fallback's own seeded draws


def test_parent_by_indicators_while_trials_are_pruned(nb201) -> None:
    # The pruner stops every trial that is not the largest so far, so few trials
    # have values; until 3 have, parents are chosen by indicators among the scored.
    kw = dict(overrides=PARAMS_ONLY, device="cpu", seed=0)
    sampler = TrainingFreeSampler(nb201, "evolution", ("params",), n_startup_trials=3, candidates=2,
                                  population_size=50, tournament_size=50, **kw)  # fmt: skip
    pruner = TrainingFreePruner(nb201, ("params",), percentile=100.0, warmup=1, **kw)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(_pruned_accuracy_objective(nb201), n_trials=10)
    trials = study.trials
    checked = 0
    for i, t in enumerate(trials):
        completed = sum(u.state == TrialState.COMPLETE for u in trials[:i])
        if t.user_attrs[ORIGIN_ATTR] != "mutation" or completed >= 3:
            continue
        params = [u.user_attrs["tenas:params"] for u in trials[:i]]
        parent = trials[int(np.argmax(params))]  # largest params; ties: the earliest
        arch, parent_arch = (architecture_from_params(u.params, nb201) for u in (t, parent))
        assert _hamming(nb201, arch, parent_arch) == 1, i
        checked += 1
    assert checked >= 2


def test_resumed_study_continues_from_storage(nb201, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    first = optuna.create_study(direction="maximize", sampler=_sampler(nb201), storage=url, study_name="r")
    first.optimize(_accuracy_objective(nb201), n_trials=5)
    stored = _archs(first, nb201)
    # A fresh sampler object (as in a new process) knows nothing but the storage.
    sampler = _sampler(nb201, population_size=50, tournament_size=50)
    again = optuna.load_study(study_name="r", storage=url, sampler=sampler)
    again.optimize(_accuracy_objective(nb201), n_trials=4)
    archs = _archs(again, nb201)
    assert archs[:5] == stored and len(set(archs)) == 9
    # The population was rebuilt from storage: new trials mutate the stored best.
    acc = [nb201.benchmark_accuracy(a, "cifar10") for a in archs]
    for i in range(5, 9):
        best = max(range(i), key=lambda j: (acc[j], -j))
        assert _hamming(nb201, archs[i], archs[best]) == 1
    # Stored indicator values were read back, not recomputed: only the 4 new
    # trials' candidates were scored (at most 4 each).
    assert sampler.scorer.evaluations <= 16
    assert all(sampler.scorer.codec.key(a) in sampler.scorer._cache for a in stored)


WORKER = textwrap.dedent(
    """
    import sys, torch, optuna
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from tenas_automl.spaces import get_space
    from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture
    space = get_space("nb201")
    tiny = {TINY!r}
    sampler = TrainingFreeSampler(space, indicators={INDICATORS!r}, overrides=tiny, device="cpu",
                                  seed=0, candidates=4, n_startup_trials=3)
    study = optuna.load_study(study_name="shared", storage=sys.argv[1], sampler=sampler)
    study.optimize(lambda t: space.benchmark_accuracy(suggest_architecture(t, space), "cifar10"),
                   n_trials=int(sys.argv[2]))
    """
).format(TINY=TINY, INDICATORS=INDICATORS)


def test_two_processes_share_one_storage(nb201, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(study_name="shared", storage=url, direction="maximize")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, str(script), url, "6"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=url)
    trials = study.trials
    assert len(trials) == 12
    assert sorted(t.number for t in trials) == list(range(12))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    archs = _archs(study, nb201)
    # Both processes ran the same seeded sampler; the storage claims kept them apart.
    assert len(set(archs)) == 12


def test_prune_strategy_proposes_pruning_result_then_neighbours(nb201, tmp_path: Path) -> None:
    from tenas_automl.scoring import ScoreCache
    from tenas_automl.strategies import get_strategy

    # "params" keeps the two pruning searches (ours and the sampler's) cheap.
    strategy = get_strategy("prune", indicators=["params"], seed=0, device="cpu", overrides=PARAMS_ONLY)
    expected = strategy.search(nb201)
    kw: dict[str, Any] = {"seed": 0, "device": "cpu", "overrides": PARAMS_ONLY, "cache_dir": tmp_path}
    sampler = TrainingFreeSampler(nb201, "prune", ("params",), candidates=4, **kw)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_accuracy_objective(nb201), n_trials=4)
    archs = _archs(study, nb201)
    assert archs[0] == expected.arch
    # The pruning's masks went to the score cache: pruning again (a new study) computes nothing new.
    with ScoreCache(tmp_path) as cache:
        stored = len(cache)
        assert stored > 54 and cache.summary() == [("nb201", "params", stored)]
    again = TrainingFreeSampler(nb201, "prune", ("params",), candidates=4, **kw)
    optuna.create_study(direction="maximize", sampler=again).optimize(_accuracy_objective(nb201), n_trials=1)
    assert again.prune_result is not None and again.prune_result.arch == expected.arch
    with ScoreCache(tmp_path) as cache:
        assert len(cache) == stored
    assert [t.user_attrs["tenas:origin"] for t in study.trials] == ["prune"] + ["neighbour"] * 3
    acc = [nb201.benchmark_accuracy(a, "cifar10") for a in archs]
    for i in range(1, 4):
        best = max(range(i), key=lambda j: (acc[j], -j))
        assert _hamming(nb201, archs[i], archs[best]) == 1


def test_prune_sampler_starts_from_a_given_pruning_result(nb201, tmp_path: Path) -> None:
    start = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|"
    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = dict(seed=0, device="cpu", overrides=PARAMS_ONLY, candidates=4)
    sampler = TrainingFreeSampler(nb201, "prune", ("params",), pruned=start, **kw)
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=url, study_name="s")
    study.optimize(_accuracy_objective(nb201), n_trials=2)
    assert study.trials[0].user_attrs[ARCH_ATTR] == start and sampler.prune_result is None  # no pruning run
    # Stored in the study: another process without pruned= starts from it too, without pruning.
    other = TrainingFreeSampler(nb201, "prune", ("params",), **kw)
    optuna.load_study(study_name="s", storage=url, sampler=other).optimize(_accuracy_objective(nb201), n_trials=1)
    assert other.prune_result is None
    with pytest.raises(TenasError, match="strategy='prune'"):
        TrainingFreeSampler(nb201, "evolution", ("params",), pruned=start)
    with pytest.raises(ValueError, match="bogus"):
        TrainingFreeSampler(nb201, "prune", ("params",), pruned="|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_surrogate_weight_trades_the_indicator_rank_against_the_objective_model(nb201) -> None:
    from tenas_automl.strategies.surrogate import AdditiveModel

    conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    big, small = nb201.parse(conv), nb201.parse(conv.replace("|nor_conv_3x3~0|+", "|skip_connect~0|+", 1))
    likes_small = AdditiveModel({(0, "skip_connect"): 1.0})  # edge 1<-0 is the first parameter

    def pick(weight: float, model: AdditiveModel | None):
        kw = dict(seed=0, device="cpu", overrides=PARAMS_ONLY, surrogate_weight=weight)
        sampler = TrainingFreeSampler(nb201, "prune", ("params",), **kw)
        return sampler._best_of([big, small], np.random.default_rng(0), "neighbour", model)[0]

    assert pick(0.5, None) == big  # "params" prefers the bigger cell
    assert pick(0.5, likes_small) == big  # half a rank from the model does not outweigh the indicator's rank
    assert pick(2.0, likes_small) == small
    assert pick(2.0, AdditiveModel()) == big  # a model with no opinion leaves the indicators' choice
    with pytest.raises(TenasError, match="surrogate_weight must be a number >= 0, got -1"):
        TrainingFreeSampler(nb201, "prune", ("params",), surrogate_weight=-1)


def test_run_optuna_study_shows_the_pruning_run_on_its_progress(nb201) -> None:
    calls: list[tuple[int, int, str]] = []
    run_optuna_study("nb201", trials=3, sampler_strategy="prune", indicators=("params",), overrides=PARAMS_ONLY,
                     device="cpu", progress=lambda d, t, i: calls.append((d, t, i)))  # fmt: skip
    pruning = [c for c in calls if c[2].startswith("TE-NAS pruning")]
    # After each of NB201's 3 rounds (24, 18, 12 candidates), before trial 0 finishes.
    assert [c[2] for c in pruning] == [f"TE-NAS pruning {n}/54 round {r}" for n, r in ((24, 1), (42, 2), (54, 3))]
    assert all(c[:2] == (0, 3) for c in pruning) and calls[-1][:2] == (3, 3)


PRUNE_WORKER = textwrap.dedent(
    """
    import sys, torch, optuna
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from tenas_automl.spaces import get_space
    from tenas_automl.integrations.optuna import TrainingFreeSampler, suggest_architecture
    space = get_space("nb201")
    sampler = TrainingFreeSampler(space, "prune", ("params",), overrides={PARAMS!r}, device="cpu", seed=0,
                                  candidates=4)
    study = optuna.load_study(study_name="shared", storage=sys.argv[1], sampler=sampler)
    study.optimize(lambda t: space.benchmark_accuracy(suggest_architecture(t, space), "cifar10"), n_trials=3)
    print("ran pruning" if sampler.prune_result is not None else "read pruning")
    """
).format(PARAMS=PARAMS_ONLY)


def test_processes_starting_together_prune_once(nb201, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    optuna.create_study(study_name="shared", storage=url, direction="maximize")
    script = tmp_path / "prune_worker.py"
    script.write_text(PRUNE_WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    said = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        said.append(out.strip())
    assert sorted(said) == ["ran pruning", "read pruning"]
    study = optuna.load_study(study_name="shared", storage=url)
    assert len(study.trials) == 6 and [t.user_attrs[ORIGIN_ATTR] for t in study.trials].count("prune") == 1


def test_run_once_waits_for_a_live_claim_and_takes_over_a_stale_one() -> None:
    import threading
    import time

    from tenas_automl.integrations.optuna._once import run_once

    study = optuna.create_study()
    storage, sid = study._storage, study._study_id
    is_result = lambda d: isinstance(d, dict) and "arch" in d  # noqa: E731

    def never() -> dict:
        raise AssertionError("computed although another process holds a live claim")

    storage.set_study_system_attr(sid, "r:claim", {"owner": "elsewhere", "beat": time.time()})
    threading.Timer(0.5, lambda: storage.set_study_system_attr(sid, "r", {"arch": "theirs"})).start()
    assert run_once(study, "r", never, is_result, poll=0.1) == {"arch": "theirs"}

    storage.set_study_system_attr(sid, "s:claim", {"owner": "elsewhere", "beat": time.time() - 1000})
    assert run_once(study, "s", lambda: {"arch": "mine"}, is_result) == {"arch": "mine"}  # stale: taken over
    assert storage.get_study_system_attrs(sid)["s"] == {"arch": "mine"}

    def interrupted() -> dict:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_once(study, "t", interrupted, is_result)
    assert "t" not in storage.get_study_system_attrs(sid)  # nothing half-done is stored
    assert run_once(study, "t", lambda: {"arch": "later"}, is_result, stale_after=1e9) == {"arch": "later"}


def test_prune_result_is_read_from_the_study(nb201) -> None:
    # What another process stored is reused: no second pruning search.
    study = optuna.create_study(direction="maximize")
    sampler = _sampler(nb201, strategy="prune")
    stored = nb201.parse("|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|")
    key = "tenas:prune_result:" + "/".join(sampler.scorer.settings_keys[n] for n in INDICATORS)
    study._storage.set_study_system_attr(study._study_id, key, {"arch": nb201.format(stored)})
    study.sampler = sampler
    study.optimize(_accuracy_objective(nb201), n_trials=1)
    assert _archs(study, nb201) == [stored]


# -- pruner --------------------------------------------------------------------------
def test_pruner_prunes_below_percentile_after_warmup(nb201) -> None:
    pruner = TrainingFreePruner(nb201, indicators=("params",), percentile=50.0, warmup=4, overrides=PARAMS_ONLY, device="cpu")
    sampler = optuna.samplers.RandomSampler(seed=3)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(_pruned_accuracy_objective(nb201), n_trials=20)
    trials = study.trials
    values = [t.user_attrs["tenas:params"] for t in trials]
    assert all(t.state == TrialState.COMPLETE for t in trials[:4])  # warm-up
    pruned = [t.state == TrialState.PRUNED for t in trials]
    assert 0 < sum(pruned) < 16
    for i in range(4, 20):
        # Recompute the rule: mid-rank position among earlier trials below 50 %.
        earlier = np.array(values[:i])
        position = 100 * (np.mean(earlier < values[i]) + 0.5 * np.mean(earlier == values[i]))
        assert pruned[i] == (position < 50.0), i
        assert (PRUNED_ATTR in trials[i].user_attrs) == pruned[i]


def test_pruner_and_sampler_with_other_settings_keep_both_scores(nb201, tmp_path: Path) -> None:
    # Different indicator seeds: each keeps its own values on the trial, so the
    # pruner still counts the finished trials and the sampler never re-scores.
    sampler = _sampler(nb201, seed=1)
    pruner = TrainingFreePruner(nb201, INDICATORS, percentile=100.0, warmup=2, overrides=TINY, device="cpu", seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                                storage=f"sqlite:///{tmp_path / 'both.db'}")  # fmt: skip
    study.optimize(_pruned_accuracy_objective(nb201), n_trials=8)
    states = [t.state for t in study.trials]
    assert states[:2] == [TrialState.COMPLETE] * 2 and TrialState.PRUNED in states[2:]
    for t in study.trials:
        assert sampler.scorer.stored(t) is not None and pruner.scorer.stored(t) is not None, t.number
    assert sampler.scorer.stored(study.trials[0]) != pruner.scorer.stored(study.trials[0])


def test_wrapped_pruner_after_first_report(nb201) -> None:
    for wrapped, expect in ((optuna.pruners.ThresholdPruner(lower=50.0), True), (None, False)):
        pruner = TrainingFreePruner(
            nb201, indicators=("params",), warmup=100, wrapped=wrapped, overrides=PARAMS_ONLY, device="cpu"
        )
        study = optuna.create_study(direction="maximize", pruner=pruner)
        seen: list[bool] = []

        def objective(trial, seen=seen):
            suggest_architecture(trial, nb201)
            seen.append(trial.should_prune())  # step 0: training-free, within warm-up
            trial.report(10.0, step=1)
            seen.append(trial.should_prune())  # after a report: the wrapped pruner decides
            return 10.0

        study.optimize(objective, n_trials=1)
        assert seen == [False, expect]


# -- errors --------------------------------------------------------------------------
def test_objective_without_architecture_params_is_named(nb201) -> None:
    pruner = TrainingFreePruner(nb201, indicators=("params",), device="cpu")
    study = optuna.create_study(pruner=pruner)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.should_prune()
        return x

    with pytest.raises(ArchitectureParamError, match=r"nb201/edge_1<-0.*nb201/edge_3<-2"):
        study.optimize(objective, n_trials=1)
    study = optuna.create_study(sampler=_sampler(nb201))
    with pytest.raises(ArchitectureParamError, match="suggest_architecture"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)


def test_multi_objective_studies_are_rejected(nb201) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.ask()
    pruner = TrainingFreePruner(nb201, indicators=("params",), device="cpu")
    with pytest.raises(TenasError, match="single-objective"):
        pruner.prune(study, study.trials[0])
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=_sampler(nb201))
    with pytest.raises(TenasError, match="single-objective"):
        study.optimize(lambda t: (1.0, float(len(str(suggest_architecture(t, nb201))))), n_trials=1)


def test_study_with_other_architecture_choices_is_rejected(nb201) -> None:
    dist = optuna.distributions.CategoricalDistribution(("none", "conv"))
    cases = (("nb201/edge_1<-0", "choices"), ("nb201/edge_9<-0", "not an architecture parameter"))
    for name, message in cases:
        study = optuna.create_study(direction="maximize", sampler=_sampler(nb201))
        study.add_trial(create_trial(params={name: "conv"}, distributions={name: dist}, value=1.0))
        with pytest.raises(ArchitectureParamError, match=message):
            study.optimize(_accuracy_objective(nb201), n_trials=1)


def test_trials_under_other_names_are_ignored_with_a_warning(nb201, caplog) -> None:
    dist = optuna.distributions.CategoricalDistribution(("a", "b"))
    study = optuna.create_study(direction="maximize", sampler=_sampler(nb201))
    study.add_trial(create_trial(params={"edge0": "a"}, distributions={"edge0": dist}, value=99.0))
    with caplog.at_level(logging.WARNING, logger="tenas_automl"):
        study.optimize(_accuracy_objective(nb201), n_trials=2)
    warnings = [r.getMessage() for r in caplog.records if "ignores completed trial" in r.getMessage()]
    assert len(warnings) == 1 and "trial(s) 0 " in warnings[0] and "nb201/edge_1<-0" in warnings[0]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert [len(t.params) for t in study.trials] == [1, 6, 6]


# -- run_optuna_study ------------------------------------------------------------------
def test_run_optuna_study_resumes_to_the_total(nb201, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run.db'}"
    kw = dict(storage=url, indicators=INDICATORS, overrides=TINY, device="cpu", candidates=3)
    calls = []
    study = run_optuna_study("nb201", trials=4, progress=lambda d, t, i: calls.append((d, t)), **kw)
    first = _archs(study, nb201)
    assert len(first) == 4 and calls[-1] == (4, 4)
    study = run_optuna_study("nb201", trials=6, **kw)
    archs = _archs(study, nb201)
    assert archs[:4] == first and len(set(archs)) == 6
    assert study.best_value == max(nb201.benchmark_accuracy(a, "cifar10") for a in archs)
    # A trial interrupted by Ctrl-C is FAIL in storage: it does not count towards the total.
    study.add_trial(create_trial(state=TrialState.FAIL))
    study = run_optuna_study("nb201", trials=7, **kw)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 7 and len(study.trials) == 8
    with pytest.raises(TenasError, match="created with"):
        other = {**kw, "indicators": ("params",), "overrides": PARAMS_ONLY}
        run_optuna_study("nb201", trials=6, study_name=study.study_name, **other)
    with pytest.raises(TenasError, match="created with"):
        finer = {**TINY, "naswot": {**TINY["naswot"], "batch_size": 8}}
        run_optuna_study("nb201", trials=6, study_name=study.study_name, **{**kw, "overrides": finer})
    with pytest.raises(TenasError, match="has none"):
        run_optuna_study("darts", trials=2)
    with pytest.raises(TenasError, match="strategy"):
        run_optuna_study("nb201", trials=2, sampler_strategy="bayes")


def test_a_later_error_is_not_taken_for_an_earlier_stale_trial(tmp_path: Path) -> None:
    from tenas_automl.integrations.optuna._storage import StaleTrialError
    from tenas_automl.integrations.optuna._study import _Tracked

    def lapsed(trial: optuna.Trial) -> float:
        raise StaleTrialError(trial.number)

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    tracked = _Tracked(lapsed)
    with pytest.raises(StaleTrialError):
        tracked(study.ask())
    assert isinstance(tracked.stale_trial(study, ValueError("Cannot tell a FAIL trial.")), StaleTrialError)
    # Then an error before the next objective call (in ask(), say) is its own, not the stale trial again.
    assert tracked.stale_trial(study, RuntimeError("storage lost")) is None


@pytest.mark.parametrize("where", ["objective", "ask"])
def test_a_worker_goes_on_when_its_trial_is_failed_under_it(
    where: str, nb201, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # What another worker's fail_stale_trials does to a live worker whose heartbeat lapsed:
    # trial 1 is set to FAIL while this worker is still scoring (ask) or training (objective) it.
    import tenas_automl.integrations.optuna._study as study_module

    def fail(study: optuna.Study, trial_id: int) -> None:
        study._storage.set_trial_state_values(trial_id, TrialState.FAIL)

    if where == "objective":
        real = study_module.benchmark_objective

        def objective_with_a_lapse(space, dataset):  # type: ignore[no-untyped-def]
            inner = real(space, dataset)

            def run(trial: optuna.Trial) -> float:
                value = inner(trial)
                if trial.number == 1:
                    fail(trial.study, trial._trial_id)
                return value

            return run

        monkeypatch.setattr(study_module, "benchmark_objective", objective_with_a_lapse)
    else:
        record = TrainingFreeSampler._record

        def record_with_a_lapse(self, study, trial, arch, origin):  # type: ignore[no-untyped-def]
            if trial.number == 1:
                fail(study, trial._trial_id)
            record(self, study, trial, arch, origin)

        monkeypatch.setattr(TrainingFreeSampler, "_record", record_with_a_lapse)
    url = f"sqlite:///{tmp_path / 'lapse.db'}"
    with caplog.at_level(logging.WARNING, logger="tenas_automl"):
        study = run_optuna_study("nb201", trials=4, storage=url, indicators=("params",), overrides=PARAMS_ONLY,
                                 device="cpu", candidates=3)  # fmt: skip
    states = [t.state for t in study.trials]
    assert states[1] == TrialState.FAIL and states.count(TrialState.COMPLETE) == 4, states
    said = [r.getMessage() for r in caplog.records if r.name.startswith("tenas_automl") and "failed as stale" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("trial 1 was failed as stale") and "--grace" in said[0]


def test_prune_preset_overrides(nb201) -> None:
    fast = {"ntk": {"batch_size": 32}}
    assert preset_overrides(nb201, "prune", ("ntk", "lr"), "fast") == fast
    assert preset_overrides(nb201, "prune", ("ntk", "lr"), None) is None
    assert preset_overrides(nb201, "prune", ("ntk", "lr"), "paper") is None
    assert preset_overrides(nb201, "prune", ("lr",), "fast") is None  # the preset only touches ntk
    mine = {"ntk": {"batch_size": 16}, "lr": {"repeats": 1}}
    assert preset_overrides(nb201, "prune", ("ntk", "lr"), "fast", mine) == mine  # the user's settings win
    with pytest.raises(TenasError, match="turbo"):
        preset_overrides(nb201, "prune", ("ntk",), "turbo")
    with pytest.raises(TenasError, match="evolution"):
        preset_overrides(nb201, "evolution", ("ntk",), "fast")


@pytest.mark.slow
def test_paper_indicators_sampler_and_pruner(nb201) -> None:
    from tenas_automl.scoring import score

    kw = dict(seed=0, device="cpu")
    sampler = TrainingFreeSampler(nb201, "evolution", ("ntk", "lr"), candidates=2, n_startup_trials=1, **kw)
    pruner = TrainingFreePruner(nb201, ("ntk", "lr"), warmup=1, **kw)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(_pruned_accuracy_objective(nb201), n_trials=2)
    for t in study.trials:
        expected = score(nb201, t.user_attrs[ARCH_ATTR], ["ntk", "lr"], **kw)
        assert t.user_attrs["tenas:ntk"] == pytest.approx(expected.values["ntk"])
        assert t.user_attrs["tenas:lr"] == pytest.approx(expected.values["lr"])
    # The pruner judged from the sampler's stored values, without scoring again.
    assert pruner.scorer.evaluations == 0
