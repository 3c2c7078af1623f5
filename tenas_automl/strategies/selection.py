"""The steps every guided search is made of, written once for all of them.

The native strategies, the Optuna sampler, the NNI strategies and the NNI
tuner all propose architectures the same way: draw distinct untried
candidates (fresh samples, or mutations of a parent), pick a parent by a
tournament, and keep the candidate the indicators rank best within the pool
(optionally weighed against a model of the measured objective). What differs
between them is only where architectures come from (a :class:`Space`, an NNI
model space, an NNI search-space dict) and what "tried" means, so these
functions take those as callables. They draw from the generator in a fixed
order, so a seed gives the same proposals whatever calls them.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> evens = distinct_draws(lambda: int(rng.integers(10)), 3, tries=50, accept=lambda x: x % 2 == 0)
    >>> len(evens), all(x % 2 == 0 for x in evens), len(set(evens))
    (3, True, 3)
    >>> pick_best({"lr": [3.0, 9.0, 5.0]}, {"lr": True})
    1
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def distinct_draws(
    draw: Callable[[], T | None],
    n: int,
    *,
    tries: int,
    key: Callable[[T], Hashable] | None = None,
    accept: Callable[[T], bool] | None = None,
) -> list[T]:
    """Up to ``n`` values of ``draw()``, distinct by ``key``, that ``accept`` admits.

    Stops after ``n`` values, ``tries`` draws, or a draw that returns None
    (nothing left to draw); the first value of each key is kept, in order.
    """
    out: dict[Hashable, T] = {}
    for _ in range(tries):
        if len(out) >= n:
            break
        value = draw()
        if value is None:
            break
        k = value if key is None else key(value)
        if k not in out and (accept is None or accept(value)):
            out[k] = value
    return list(out.values())


def tournament(rng: np.random.Generator, population: int, size: int) -> np.ndarray:
    """Indices of ``min(size, population)`` distinct entrants, in the order drawn."""
    return rng.choice(population, size=min(size, population), replace=False)


def pick_best(
    cols: Mapping[str, Sequence[float] | np.ndarray],
    higher_is_better: Mapping[str, bool],
    combinations: Iterable[str] = (),
    *,
    method: str = "min",
    predicted: Sequence[float] | np.ndarray | None = None,
    weight: float = 0.0,
) -> int:
    """Index of the best candidate of a pool by the indicator values ``cols`` (ties: the first).

    The pool's ranking is :func:`~tenas_automl.indicators.pool_ranking` (the
    TE-NAS rank sum, or the log-rank sum of the ``combinations`` named);
    with ``predicted`` values of a model of the objective (higher is better)
    it is weighed against their rank by ``weight``
    (:func:`~tenas_automl.strategies.surrogate.guided_order`).
    """
    from tenas_automl.indicators import pool_ranking
    from tenas_automl.strategies.surrogate import guided_order

    order = pool_ranking(cols, higher_is_better, combinations, method=method)
    if predicted is not None:
        order = guided_order(order, np.asarray(predicted, dtype=float), weight)
    return int(np.argsort(order, kind="stable")[0])


__all__ = ["distinct_draws", "pick_best", "tournament"]
