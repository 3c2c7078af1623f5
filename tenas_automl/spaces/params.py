"""A plain hyper-parameter search space: named categorical, integer and float parameters.

NB201 and DARTS are :class:`~tenas_automl.spaces.Space` objects with cells,
masks and supernets. A user's own model family has none of that: its
"architecture" is the tuple of its parameter values, and ``model_fn(params)``
builds the network. :class:`ParamSpace` gives the searches what they need of
such a space (uniform draws, one-parameter mutations, a JSON form, validation)
without any framework: the Optuna sampler converts ``{name: distribution}``
into it and the NNI tuner converts NNI's search-space JSON
(:func:`from_nni_search_space`).

Example::

    >>> import numpy as np
    >>> from tenas_automl.spaces.params import Categorical, IntParam, ParamSpace
    >>> space = ParamSpace({"depth": IntParam(1, 4), "act": Categorical(("relu", "gelu"))})
    >>> values = space.sample(np.random.default_rng(0))
    >>> space.arch(space.params(values)) == values
    True
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tenas_automl.errors import TenasError

Values = tuple[Any, ...]


class ParamError(TenasError, ValueError):
    """Parameters that are missing, outside their range, or a search space that cannot be searched."""


@dataclass(frozen=True)
class Categorical:
    """One of ``choices``."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ParamError("a categorical parameter needs at least one choice")

    def contains(self, value: Any) -> bool:
        return value in self.choices

    def values(self) -> tuple[Any, ...] | None:
        return self.choices


@dataclass(frozen=True)
class IntParam:
    """An integer in ``[low, high]`` on the grid ``low + k * step``; ``log`` draws it log-uniformly."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        if self.high < self.low or self.step < 1 or (self.log and self.low < 1):
            raise ParamError(f"not a valid integer range: {self}")

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or value != int(value):
            return False
        return self.low <= value <= self.high and (int(value) - self.low) % self.step == 0

    def values(self) -> tuple[int, ...] | None:
        return tuple(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class FloatParam:
    """A float in ``[low, high]``; with ``step``, on the grid ``low + k * step``; ``log`` draws it log-uniformly."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high < self.low:
            raise ParamError(f"not a valid float range: {self}")
        if (self.step is not None and self.step <= 0) or (self.log and self.low <= 0):
            raise ParamError(f"not a valid float range: {self}")

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return math.isclose(k, round(k), abs_tol=1e-8)

    def values(self) -> tuple[float, ...] | None:
        if self.step is None:
            return None
        return tuple(self._on_grid(self.low + self.step * k) for k in range(round((self.high - self.low) / self.step) + 1))

    def _on_grid(self, value: float) -> float:
        if self.step is not None:
            value = self.low + self.step * round((value - self.low) / self.step)
        return float(min(self.high, max(self.low, value)))


Param = Categorical | IntParam | FloatParam


class ParamSpace:
    """Sampling, mutation, validation and the JSON form of named parameters.

    An "architecture" is the tuple of values in the order of ``params``'s
    names. ``error`` is the exception class its validation raises (an
    integration can give its own subclass of :class:`ParamError`).
    """

    name = "params"
    error: type[TenasError] = ParamError

    def __init__(self, params: Mapping[str, Param]) -> None:
        if not isinstance(params, Mapping) or not params:
            raise ParamError("a search space needs at least one parameter")
        for key, p in params.items():
            if not isinstance(p, (Categorical, IntParam, FloatParam)):
                raise ParamError(f"parameter {key!r} is a {type(p).__name__}; expected Categorical, IntParam or FloatParam")
        self.space: dict[str, Param] = dict(params)
        self.names: tuple[str, ...] = tuple(params)
        #: Whether every parameter is categorical.
        self.categorical = all(isinstance(p, Categorical) for p in self.space.values())

    def __repr__(self) -> str:
        return f"ParamSpace({', '.join(self.names)})"

    def describe(self, name: str) -> str:
        """How parameter ``name``'s range reads in messages."""
        return repr(self.space[name])

    # -- draws --------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Values:
        return tuple(_draw(self.space[n], rng) for n in self.names)

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Values:
        """``arch`` with one parameter changed (the same ``arch`` if none can change)."""
        values = list(arch)  # type: ignore[call-overload]
        movable = [i for i, n in enumerate(self.names) if not _single(self.space[n])]
        if not movable:
            return tuple(values)
        i = movable[int(rng.integers(len(movable)))]
        values[i] = _step(self.space[self.names[i]], values[i], rng)
        return tuple(values)

    def size(self) -> int | float:
        """How many architectures there are (``inf`` with a continuous parameter)."""
        counts = [len(v) if (v := p.values()) is not None else math.inf for p in self.space.values()]
        return math.prod(counts)

    def enumerate(self) -> Iterator[Values]:
        """Every architecture, in order (only for spaces without a continuous parameter)."""
        grids = [p.values() for p in self.space.values()]
        if any(g is None for g in grids):
            raise ParamError("a search space with a continuous parameter cannot be enumerated")
        return itertools.product(*grids)  # type: ignore[arg-type]

    # -- text and parameters ---------------------------------------------------------
    def format(self, arch: Hashable) -> str:
        return json.dumps(self.params(arch), sort_keys=True, default=str)

    def parse(self, text: str) -> Values:
        try:
            params = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise self.error(f"not a JSON object of parameters: {text!r}") from exc
        if not isinstance(params, dict):
            raise self.error(f"not a JSON object of parameters: {text!r}")
        return self.arch(params)

    def dedup_key(self, arch: Hashable) -> str:
        return self.format(arch)

    def params(self, arch: Hashable) -> dict[str, Any]:
        return dict(zip(self.names, arch))  # type: ignore[call-overload]

    def arch(self, params: Mapping[str, Any]) -> Values:
        """The architecture of ``params`` (all of the space's names, each within its range)."""
        missing = [n for n in self.names if n not in params]
        if missing:
            raise self.error(
                f"the trial has no parameter(s) {', '.join(missing)} of the search space; "
                f"the objective must suggest all of {', '.join(self.names)}"
            )
        for n in self.names:
            if not self.space[n].contains(params[n]):
                raise self.error(f"parameter {n}={params[n]!r} is outside {self.describe(n)}")
        return tuple(params[n] for n in self.names)

    def contains(self, params: Mapping[str, Any]) -> bool:
        return all(n in params and self.space[n].contains(params[n]) for n in self.names)

    def arch_of_key(self, key: Hashable) -> Values:
        return tuple(key)  # type: ignore[call-overload]

    def has_arch(self, params: Mapping[str, Any]) -> bool:
        return all(n in params for n in self.names)

    def key(self, arch: Hashable) -> Values:
        return tuple(arch)  # type: ignore[call-overload]

    def key_of_params(self, params: Mapping[str, Any]) -> Values | None:
        return tuple(params[n] for n in self.names) if self.has_arch(params) else None


def _single(p: Param) -> bool:
    if isinstance(p, Categorical):
        return len(p.choices) == 1
    if isinstance(p, IntParam):
        return p.low == p.high or p.high - p.low < p.step
    return p.low == p.high or (p.step is not None and p.high - p.low < p.step)


def _draw(p: Param, rng: np.random.Generator) -> Any:
    if isinstance(p, Categorical):
        return p.choices[int(rng.integers(len(p.choices)))]
    if isinstance(p, IntParam):
        if p.log:
            return int(min(p.high, max(p.low, round(math.exp(rng.uniform(math.log(p.low), math.log(p.high)))))))
        return int(p.low + p.step * int(rng.integers((p.high - p.low) // p.step + 1)))
    if p.step is not None and not p.log:
        return float(p.low + p.step * int(rng.integers(round((p.high - p.low) / p.step) + 1)))
    if p.log:
        return p._on_grid(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
    return float(rng.uniform(p.low, p.high))


def _step(p: Param, value: Any, rng: np.random.Generator) -> Any:
    """A nearby other value: another choice, the next int either way, a float moved by a tenth of its range."""
    if isinstance(p, Categorical):
        others = [c for c in p.choices if c != value]
        return others[int(rng.integers(len(others)))]
    if isinstance(p, IntParam):
        if p.log:
            moved = int(min(p.high, max(p.low, round(value * math.exp(rng.normal(0.0, 0.3))))))
            if moved != value:
                return moved
        near = [v for v in (value - p.step, value + p.step) if p.low <= v <= p.high]
        return int(near[int(rng.integers(len(near)))])
    if p.log:
        moved = value * math.exp(rng.normal(0.0, 0.1 * math.log(p.high / p.low)))
    else:
        moved = value + rng.normal(0.0, 0.1 * (p.high - p.low))
    moved = p._on_grid(moved)
    if moved == value and p.step is not None:  # rounded back onto itself: the next grid value either way
        near = [v for v in (value - p.step, value + p.step) if p.low <= v <= p.high]
        moved = p._on_grid(near[int(rng.integers(len(near)))])
    return moved


# -- NNI's search-space JSON -----------------------------------------------------------
_NNI_UNBOUNDED = ("normal", "qnormal", "lognormal", "qlognormal")
_NNI_TYPES = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform")


def from_nni_search_space(search_space: Any) -> ParamSpace:
    """The :class:`ParamSpace` of an NNI search space (``{key: {"_type": ..., "_value": [...]}}``).

    ``choice`` becomes a categorical parameter, ``randint [low, high)`` the
    integers ``low .. high - 1``, ``uniform``/``loguniform`` a float range,
    ``quniform``/``qloguniform [low, high, q]`` the grid ``low + k * q`` (NNI
    rounds to multiples of ``q``: the same grid when ``low`` is one). Nested
    choices and the unbounded ``normal`` family are refused with the key named.
    """
    if not isinstance(search_space, Mapping) or not search_space:
        raise ParamError(
            f"an NNI search space is a non-empty dict of key -> {{'_type': ..., '_value': [...]}}, got {search_space!r}"[:300]
        )
    params: dict[str, Param] = {}
    for key, entry in search_space.items():
        kind = entry.get("_type") if isinstance(entry, Mapping) else None
        value = entry.get("_value") if isinstance(entry, Mapping) else None
        where = f"search space key {key!r}"
        if kind in _NNI_UNBOUNDED:
            raise ParamError(f"{where} is {kind!r}, which is unbounded; use uniform, quniform or loguniform")
        if kind not in _NNI_TYPES:
            raise ParamError(f"{where} has _type {kind!r}; allowed: {', '.join(_NNI_TYPES)}")
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise ParamError(f"{where} needs a non-empty '_value' list, got {value!r}")
        if kind == "choice":
            if any(isinstance(v, Mapping) and "_name" in v for v in value):
                raise ParamError(f"{where} is a nested choice; the training-free tuner takes flat search spaces")
            params[key] = Categorical(tuple(value))
            continue
        numbers = _numbers(where, value, 3 if kind.startswith("q") else 2)
        if kind == "randint":
            low, high = numbers
            if low != int(low) or high != int(high) or high <= low:
                raise ParamError(f"{where}: randint needs integers low < high, got {list(value)}")
            params[key] = IntParam(int(low), int(high) - 1)
        else:
            log = "log" in kind
            step = numbers[2] if kind.startswith("q") else None
            if numbers[1] < numbers[0] or (log and numbers[0] <= 0) or (step is not None and step <= 0):
                raise ParamError(f"{where}: {kind} needs low <= high{' and low > 0' if log else ''}, got {list(value)}")
            params[key] = FloatParam(numbers[0], numbers[1], step, log)
    return ParamSpace(params)


def _numbers(where: str, value: Sequence[Any], n: int) -> list[float]:
    if len(value) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ParamError(f"{where} needs {n} numbers as '_value', got {list(value)}")
    out = [float(v) for v in value]
    if not all(math.isfinite(v) for v in out):
        raise ParamError(f"{where} needs finite numbers, got {list(value)}")
    return out


__all__ = ["Categorical", "FloatParam", "IntParam", "Param", "ParamError", "ParamSpace", "from_nni_search_space"]
