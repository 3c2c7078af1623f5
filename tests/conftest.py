"""Shared fixtures: where ../shared/data lives, single-threaded torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TENAS_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder with cifar10-sample.npz and nb201-accuracy.csv."""
    if not (SHARED_DATA / "nb201-accuracy.csv").exists():
        pytest.fail(f"shared data not found at {SHARED_DATA}; set TENAS_SHARED_DATA")
    return SHARED_DATA
