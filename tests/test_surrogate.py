"""The additive objective surrogate: exact on additive data, honest about what it has not seen."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tenas_automl.strategies.surrogate import fit_additive

EFFECTS = [{"a": 0.0, "b": 2.0, "c": -1.0}, {"x": 0.5, "y": -0.5}, {"p": 0.0, "q": 3.0}]


def _additive(key: tuple[str, ...]) -> float:
    return sum(EFFECTS[p][v] for p, v in enumerate(key))


def test_recovers_an_additive_objective_up_to_scale() -> None:
    keys = list(itertools.product(*[sorted(e) for e in EFFECTS]))
    y = np.array([_additive(k) for k in keys])
    train = [0, 3, 4, 7, 8, 11, 1, 6]  # 8 of the 12 cells, every (position, choice) pair among them
    model = fit_additive([keys[i] for i in train], y[train], alpha=1e-8)
    # The 4 held-out cells are predicted exactly, in standardised units of the training targets.
    np.testing.assert_allclose(model.predict(keys), (y - y[train].mean()) / y[train].std(), atol=1e-6)


def test_shrinks_and_is_uncertain_where_nothing_was_measured() -> None:
    keys = [("a", "x"), ("b", "x"), ("a", "y"), ("b", "y")]
    model = fit_additive(keys, [1.0, 0.0, 1.0, 0.0], also=[("c", "x")])
    seen, unseen = model.std([("a", "x")])[0], model.std([("c", "x")])[0]
    assert unseen > seen > 0
    # "a" beats "b" at position 0; position 1 carries no signal.
    assert model.predict([("a", "y")])[0] > model.predict([("b", "y")])[0]
    assert model.predict([("a", "x")])[0] == pytest.approx(model.predict([("a", "y")])[0])


def test_skips_non_finite_values_and_checks_its_input() -> None:
    model = fit_additive([("a",), ("b",), ("c",)], [1.0, 0.0, float("nan")])
    assert model.predict([("a",)])[0] > model.predict([("b",)])[0]
    assert model.predict([("c",)])[0] == pytest.approx(model.intercept)  # never measured: no effect
    with pytest.raises(ValueError, match="2 keys but 1 values"):
        fit_additive([("a",), ("b",)], [1.0])
    with pytest.raises(ValueError, match="alpha must be positive, got 0"):
        fit_additive([("a",)], [1.0], alpha=0)
    # Fewer than two measurements: no information, a flat prediction.
    assert np.all(fit_additive([("a",)], [1.0]).predict([("a",), ("b",)]) == 0.0)
