"""The DARTS training example runs as a user runs it, on a genotype from a search result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from tenas_automl import get_space
from tenas_automl.spaces.darts_genotypes import TENAS_CIFAR10

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_train_darts_genotype_from_a_result_file(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"space": "darts", "arch": str(TENAS_CIFAR10)}))
    ckpt = tmp_path / "model.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_darts_genotype.py"), "--result", str(result), "--epochs", "0.1",
         "--channels", "4", "--layers", "3", "--device", "cpu", "--save", str(ckpt)],
        capture_output=True, text=True, env=env, timeout=600,
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
    res = subprocess.run([sys.executable, str(EXAMPLES / "train_darts_genotype.py"), "--result", str(result)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode != 0 and "nb201" in res.stderr
