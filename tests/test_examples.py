"""The DARTS training example runs as a user runs it, on a genotype from a search result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tenas_automl import get_space
from tenas_automl.spaces.darts.genotypes import TENAS_CIFAR10

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_train_darts_genotype_from_a_result_file(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"space": "darts", "arch": str(TENAS_CIFAR10)}))
    ckpt = tmp_path / "model.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_darts_genotype.py"),
            "--result",
            str(result),
            "--epochs",
            "0.1",
            "--channels",
            "4",
            "--layers",
            "3",
            "--device",
            "cpu",
            "--save",
            str(ckpt),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout and "M parameters" in res.stdout
    saved = torch.load(ckpt, weights_only=True)
    space = get_space("darts")
    model = space.build(space.parse(saved["genotype"]), channels=4, layers=3, auxiliary=True)
    model.load_state_dict(saved["state_dict"])  # the trained weights fit the genotype's network
    assert 0.0 <= saved["test_accuracy"] <= 100.0
    assert not list(tmp_path.glob("*.tmp"))


def test_train_darts_genotype_rejects_an_nb201_result(tmp_path: Path) -> None:
    result = tmp_path / "nb201.json"
    result.write_text(json.dumps({"space": "nb201", "arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}))
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_darts_genotype.py"), "--result", str(result)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode != 0 and "nb201" in res.stderr


def _example(script: str, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TENAS_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          env=env, timeout=600)  # fmt: skip


def test_optuna_example_trains_prunes_and_records_scores(tmp_path: Path) -> None:
    import optuna

    db = tmp_path / "nb201.db"
    res = _example("optuna_nb201.py", "--trials", "4", "--steps", "10", "--indicators", "params",
                   "--candidates", "2", "--storage", f"sqlite:///{db}", cache=tmp_path / "cache")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "4 trials in" in res.stdout and "best trial's test accuracy" in res.stdout
    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{db}")
    trials = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{db}").trials
    assert len(trials) == 4 and all("tenas:params" in t.user_attrs for t in trials)
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)


def test_optuna_shared_storage_example_two_workers_then_resume(tmp_path: Path) -> None:
    import optuna

    db = tmp_path / "shared.db"
    args = ("--workers", "2", "--indicators", "params", "--db", str(db))
    res = _example("optuna_shared_storage.py", *args, "--trials", "6", cache=tmp_path / "cache")
    assert res.returncode == 0, res.stderr
    assert "repeated architectures: 0" in res.stdout
    first = len(optuna.load_study(study_name="nb201-shared", storage=f"sqlite:///{db}").trials)
    assert 6 <= first <= 7  # each worker stops at the total; one may finish a last running trial
    res = _example("optuna_shared_storage.py", *args, "--trials", "10", cache=tmp_path / "cache")
    assert res.returncode == 0, res.stderr
    study = optuna.load_study(study_name="nb201-shared", storage=f"sqlite:///{db}")
    keys = [tuple(sorted(t.params.items())) for t in study.trials]
    assert 10 <= len(keys) <= 11 and len(set(keys)) == len(keys)


def test_optuna_custom_cnn_example_prunes_before_training() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "optuna_custom_cnn.py"), "--trials", "6", "--steps", "5", "--warmup", "2",
         "--val", "200"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = res.stdout.strip().splitlines()[-1]
    trained, pruned = int(summary.split(" trained")[0]), int(summary.split(", ")[1].split(" pruned")[0])
    assert trained + pruned == 6 and pruned >= 1 and "best" in summary


def test_nni_custom_cnn_example_trains_only_its_budget(tmp_path: Path) -> None:
    pytest.importorskip("nni")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)}  # NNI writes ~/nni-experiments
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "nni_custom_cnn.py"), "--budget", "3", "--steps", "2", "--val", "200"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    rows = [ln for ln in lines[1:-1] if ln.split()[0].isdigit()]
    assert len(rows) == 3 and len({ln.split("  ", 3)[-1] for ln in rows}) == 3  # three distinct samples
    assert lines[-1].startswith("3 trained") and "RuntimeWarning" not in res.stderr
