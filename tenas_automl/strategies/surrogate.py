"""An additive model of a measured objective over an architecture's choices.

A cell is a tuple of categorical choices (NB201: the op on each of 6 edges).
Ridge regression on their one-hot encoding learns one effect per (position,
choice) from the trials measured so far: cheap, and in NB201 op effects add
up well enough to tell that an edit which hurt one cell will likely hurt its
neighbour too. Search uses it beside the training-free indicators, which know
nothing of the measured objective.

>>> model = fit_additive([("a", "x"), ("b", "x"), ("a", "y")], [1.0, 0.0, 1.5])
>>> bool(model.predict([("a", "y")])[0] > model.predict([("b", "x")])[0])
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tenas_automl.errors import TenasError
from tenas_automl.indicators.aggregate import rank

#: Ridge penalty: with ~20 trials and 30 one-hot columns the fit must shrink hard.
DEFAULT_ALPHA = 1.0


@dataclass(frozen=True)
class AdditiveModel:
    """Per-(position, choice) effects on the centred objective; unseen choices count 0."""

    effects: dict[tuple[int, Hashable], float] = field(default_factory=dict)

    def predict(self, keys: Sequence[Sequence[Hashable]]) -> np.ndarray:
        """Predicted objective (centred, higher is better) of each key."""
        return np.array([sum(self.effects.get((i, c), 0.0) for i, c in enumerate(k)) for k in keys], dtype=float)


def fit_additive(keys: Sequence[Sequence[Hashable]], values: Sequence[float], *, alpha: float = DEFAULT_ALPHA) -> AdditiveModel:
    """Ridge fit of ``values`` (higher is better) on the one-hot choices of ``keys``.

    Needs no intercept column: ``values`` are centred and every key has one
    choice per position. Fewer than two keys give an empty model.
    """
    if len(keys) != len(values):
        raise ValueError(f"fit_additive got {len(keys)} keys and {len(values)} values")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if len(keys) < 2:
        return AdditiveModel()
    columns = sorted({(i, c) for k in keys for i, c in enumerate(k)}, key=repr)
    index = {col: j for j, col in enumerate(columns)}
    x = np.zeros((len(keys), len(columns)))
    for row, k in enumerate(keys):
        for i, c in enumerate(k):
            x[row, index[(i, c)]] = 1.0
    y = np.asarray(values, dtype=float)
    y = y - y.mean()
    w = np.linalg.solve(x.T @ x + alpha * np.eye(len(columns)), x.T @ y)
    return AdditiveModel({col: float(w[j]) for col, j in index.items()})


def check_weight(weight: object, error: type[Exception] = TenasError) -> float:
    """``weight`` as a float, or ``error`` naming it when it is not a finite number >= 0."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (math.isfinite(weight) and weight >= 0):
        raise error(f"surrogate_weight must be a number >= 0, got {weight!r}")
    return float(weight)


def guided_order(indicator_order: Sequence[float], predicted: Sequence[float], weight: float) -> np.ndarray:
    """Sort key of candidates (smallest first): the indicators' rank plus ``weight`` x the model's.

    ``indicator_order`` is smaller-is-better (a rank sum); ``predicted`` is
    the model's prediction, higher is better. Both become average ranks, so a
    model with no opinion (equal predictions) leaves the indicators' order,
    and at ``weight`` < 1 the model only breaks near-ties of the indicators.
    Predictions are rounded to 9 decimals so that float noise in equal
    predictions cannot break ties.
    """
    ind = rank(np.asarray(indicator_order, dtype=float), False, method="average")
    pred = rank(np.round(np.asarray(predicted, dtype=float), 9), True, method="average")
    return ind + float(weight) * pred
