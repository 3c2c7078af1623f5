"""The examples in the docstrings run, and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

#: Modules whose docstrings carry runnable examples (slow ones are marked ``+SKIP`` there).
MODULES = (
    "tenas_automl",
    "tenas_automl.config",
    "tenas_automl.score_cache",
    "tenas_automl.model_scoring",
    "tenas_automl.strategies",
    "tenas_automl.strategies.guided",
    "tenas_automl.strategies.selection",
    "tenas_automl.strategies.surrogate",
    "tenas_automl.integrations.optuna",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0
