"""An additive surrogate of a measured objective over categorical architectures.

Once some architectures have a measured objective (a trained accuracy), the
effect of each (position, choice) pair, e.g. "``nor_conv_3x3`` on edge 1<-0",
can be estimated by ridge regression on one-hot features. This is the
per-parameter structure TPE exploits; here it lets the few measured values of
a study correct what the training-free indicators systematically get wrong
(on NB201 they prefer convolutions where the best cells keep a skip).

>>> m = fit_additive([("a", "x"), ("b", "x"), ("a", "y")], [1.0, 0.0, 1.0])
>>> bool(m.predict([("a", "y")])[0] > m.predict([("b", "y")])[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Key = Sequence[str]


@dataclass(frozen=True)
class AdditiveSurrogate:
    """``predict(key) = intercept + sum of the fitted effects of key's (position, choice) pairs``.

    Pairs never seen in the training keys contribute nothing (ridge shrinks
    the unknown to the mean).
    """

    columns: dict[tuple[int, str], int]
    coef: np.ndarray
    intercept: float
    #: Posterior covariance of ``coef`` (Bayesian reading of ridge, unit noise).
    cov: np.ndarray

    def _x(self, keys: Sequence[Key]) -> np.ndarray:
        x = np.zeros((len(keys), len(self.columns)))
        for row, key in enumerate(keys):
            for pv in enumerate(key):
                if pv in self.columns:
                    x[row, self.columns[pv]] = 1.0
        return x

    def predict(self, keys: Sequence[Key]) -> np.ndarray:
        return self.intercept + self._x(keys) @ self.coef

    def std(self, keys: Sequence[Key]) -> np.ndarray:
        """Posterior standard deviation of each prediction: large for pairs seldom or never measured."""
        x = self._x(keys)
        return np.sqrt(np.einsum("ij,jk,ik->i", x, self.cov, x))


def _one_hot(keys: Sequence[Key], columns: dict[tuple[int, str], int]) -> np.ndarray:
    x = np.zeros((len(keys), len(columns)))
    for row, key in enumerate(keys):
        for p, v in enumerate(key):
            x[row, columns[(p, v)]] = 1.0
    return x


def fit_additive(
    keys: Sequence[Key], values: Sequence[float], alpha: float = 1.0, *, also: Sequence[Key] = ()
) -> AdditiveSurrogate:
    """Ridge regression of ``values`` on the one-hot (position, choice) pairs of ``keys``.

    The targets are standardised first, so ``alpha`` does not depend on the
    objective's scale; the predictions are in standardised units (only their
    order matters to a search). Non-finite values are left out. Pairs of
    ``also`` (e.g. the candidates to be ranked) get columns too, so that
    :meth:`AdditiveSurrogate.std` knows how little is known about them.
    """
    if len(keys) != len(values):
        raise ValueError(f"got {len(keys)} keys but {len(values)} values")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    pairs = [(tuple(k), float(v)) for k, v in zip(keys, values) if np.isfinite(v)]
    columns: dict[tuple[int, str], int] = {}
    for key in [k for k, _ in pairs] + [tuple(k) for k in also]:
        for pv in enumerate(key):
            columns.setdefault(pv, len(columns))
    eye = np.eye(len(columns))
    if len(pairs) < 2:
        return AdditiveSurrogate(columns, np.zeros(len(columns)), 0.0, eye / alpha)
    y = np.array([v for _, v in pairs])
    y = (y - y.mean()) / (y.std() or 1.0)
    x = _one_hot([k for k, _ in pairs], columns)
    mean_x = x.mean(axis=0)
    xc = x - mean_x
    cov = np.linalg.inv(xc.T @ xc + alpha * eye)
    coef = cov @ (xc.T @ y)
    return AdditiveSurrogate(columns, coef, float(-mean_x @ coef), cov)


__all__ = ["AdditiveSurrogate", "fit_additive"]
