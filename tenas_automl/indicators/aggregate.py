"""Rankings: per-indicator ranks with non-finite values last, and rank sums.

Ranks are 0-based and *dense* by default, as in TE-NAS's pruning code: equal
values share a rank and the next distinct value gets the next integer. NaN and
+-inf (failed or degenerate scores) all share the rank after every finite one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
from scipy.stats import rankdata

from tenas_automl.errors import check_choice

RANK_METHODS = ("dense", "min", "average", "ordinal")


def rank(values: object, higher_is_better: bool, *, method: str = "dense") -> np.ndarray:
    """Rank of each value, 0 = best; non-finite values rank last, ties share a rank.

    ``method`` is how ties are handled, as in ``scipy.stats.rankdata``:
    ``dense`` (default; TE-NAS), ``min``, ``average`` or ``ordinal`` (first
    seen first). Non-finite values are tied with each other after the finite
    ones under the same rule.
    """
    check_choice("rank method", method, RANK_METHODS)
    v = np.asarray(values, dtype=float).ravel()
    finite = np.isfinite(v)
    key = np.where(finite, -v if higher_is_better else v, 0.0)
    # Sort non-finite after finite: rank the pair (is-not-finite, key).
    order_key = np.where(finite, 0, 1)
    if method == "dense":
        out = np.empty(v.shape, dtype=float)
        out[finite] = rankdata(key[finite], method="dense") - 1
        out[~finite] = (out[finite].max() + 1) if finite.any() else 0.0
        return out
    # For the other methods, a key that sorts every non-finite value last and tied.
    big = np.abs(key[finite]).max() + 1.0 if finite.any() else 0.0
    combined = np.where(order_key == 1, big + 1.0, key)
    return rankdata(combined, method=method) - 1.0


def _direction(name: str, higher_is_better: Mapping[str, bool] | None) -> bool:
    """``higher_is_better[name]`` if given, else the registry's direction of ``name``."""
    if higher_is_better is not None and name in higher_is_better:
        return higher_is_better[name]
    from tenas_automl.indicators.registry import higher_is_better as direction

    return direction(name)


def rank_sum(
    values_by_name: Mapping[str, object],
    higher_is_better: Mapping[str, bool] | None = None,
    *,
    method: str = "dense",
) -> np.ndarray:
    """Sum over indicators of their ranks (TE-NAS's combination); lower is better.

    Directions come from ``higher_is_better`` or else from the indicator registry.
    """
    if not values_by_name:
        raise ValueError("rank_sum needs at least one indicator")
    total: np.ndarray | None = None
    for name, values in values_by_name.items():
        hib = _direction(name, higher_is_better)
        r = rank(values, hib, method=method)
        if total is not None and r.shape != total.shape:
            raise ValueError(f"indicator {name!r} has {r.size} values, expected {total.size}")
        total = r if total is None else total + r
    assert total is not None
    return total


def log_rank_sum(
    values_by_name: Mapping[str, object],
    higher_is_better: Mapping[str, bool] | None = None,
    weights: Mapping[str, float] | None = None,
    dense: Collection[str] = (),
) -> np.ndarray:
    """AZ-NAS's non-linear rank aggregation: sum over indicators of ``w * log(rank / N)``.

    Within the pool, ``rank`` runs from 1 (worst) to N (best) in each
    indicator's direction, ties sharing their average rank, so the best value
    adds ``log 1 = 0`` and a poor one a large negative number: an architecture
    must be good on every member to score well. Members in ``dense`` are
    ranked densely instead (1 to the number of distinct values, as VKDNW ranks
    its score). Non-finite values (failed scores) tie below every finite one.
    Higher is better.
    """
    if not values_by_name:
        raise ValueError("log_rank_sum needs at least one indicator")
    total: np.ndarray | None = None
    for name, values in values_by_name.items():
        hib = _direction(name, higher_is_better)
        r = rank(values, hib, method="dense" if name in dense else "average")  # 0 = best
        n = r.size
        top = r.max() + 1 if name in dense else n
        term = np.log((top - r) / n) * (1.0 if weights is None else float(weights.get(name, 1.0)))
        if total is not None and term.shape != total.shape:
            raise ValueError(f"indicator {name!r} has {term.size} values, expected {total.size}")
        total = term if total is None else total + term
    assert total is not None
    return total
