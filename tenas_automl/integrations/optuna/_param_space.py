"""A plain Optuna search space (``{name: distribution}``) as the sampler's space and codec.

:class:`~tenas_automl.integrations.optuna.TrainingFreeSampler` searches
NB201 and DARTS through their :class:`~tenas_automl.spaces.Space` and
:class:`~._params.ArchCodec`. With ``model_fn`` and ``search_space`` it
searches any objective's parameters instead; :class:`ParamSpace` gives it the
same operations: an "architecture" is the tuple of parameter values in name
order, drawn, mutated (one parameter at a time), written as JSON and read back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from tenas_automl.errors import TenasError
from tenas_automl.integrations.optuna._params import ArchitectureParamError

Values = tuple[Any, ...]


class ParamSpace:
    """Sampling, mutation and the codec of a ``{name: distribution}`` search space."""

    name = "params"

    def __init__(self, search_space: Mapping[str, BaseDistribution]) -> None:
        if not isinstance(search_space, Mapping) or not search_space:
            raise TenasError("search_space must be a non-empty {name: optuna distribution} dict")
        for name, dist in search_space.items():
            if not isinstance(dist, (CategoricalDistribution, IntDistribution, FloatDistribution)):
                raise TenasError(
                    f"search_space[{name!r}] is a {type(dist).__name__}; expected CategoricalDistribution, "
                    "IntDistribution or FloatDistribution"
                )
        self.distributions: dict[str, BaseDistribution] = dict(search_space)
        self.names: tuple[str, ...] = tuple(search_space)
        #: Whether every parameter is categorical (the objective model one-hot encodes the values).
        self.categorical = all(isinstance(d, CategoricalDistribution) for d in self.distributions.values())

    def __repr__(self) -> str:
        return f"ParamSpace({', '.join(self.names)})"

    # -- the Space side ---------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Values:
        return tuple(_draw(self.distributions[n], rng) for n in self.names)

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Values:
        """``arch`` with one parameter changed (the same ``arch`` if none can change)."""
        values = list(arch)  # type: ignore[call-overload]
        movable = [i for i, n in enumerate(self.names) if not _single(self.distributions[n])]
        if not movable:
            return tuple(values)
        i = movable[int(rng.integers(len(movable)))]
        values[i] = _step(self.distributions[self.names[i]], values[i], rng)
        return tuple(values)

    def format(self, arch: Hashable) -> str:
        return json.dumps(self.params(arch), sort_keys=True, default=str)

    def parse(self, text: str) -> Values:
        try:
            params = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ArchitectureParamError(f"not a JSON object of parameters: {text!r}") from exc
        if not isinstance(params, dict):
            raise ArchitectureParamError(f"not a JSON object of parameters: {text!r}")
        return self.arch(params)

    # -- the codec side ------------------------------------------------------------
    def params(self, arch: Hashable) -> dict[str, Any]:
        return dict(zip(self.names, arch))  # type: ignore[call-overload]

    def arch(self, params: Mapping[str, Any]) -> Values:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ArchitectureParamError(
                f"the trial has no parameter(s) {', '.join(missing)} of the search space; "
                f"the objective must suggest all of {', '.join(self.names)}"
            )
        for n in self.names:
            if not self.distributions[n]._contains(self.distributions[n].to_internal_repr(params[n])):
                raise ArchitectureParamError(f"parameter {n}={params[n]!r} is outside {self.distributions[n]}")
        return tuple(params[n] for n in self.names)

    def arch_of_key(self, key: Hashable) -> Values:
        return tuple(key)  # type: ignore[call-overload]

    def has_arch(self, params: Mapping[str, Any]) -> bool:
        return all(n in params for n in self.names)

    def key(self, arch: Hashable) -> Values:
        return tuple(arch)  # type: ignore[call-overload]

    def key_of_params(self, params: Mapping[str, Any]) -> Values | None:
        return tuple(params[n] for n in self.names) if self.has_arch(params) else None

    def check_distributions(self, distributions: Mapping[str, Any], where: str) -> None:
        for name, dist in distributions.items():
            if name in self.distributions and dist != self.distributions[name]:
                raise ArchitectureParamError(
                    f"{where} has parameter {name!r} as {dist}; the sampler's search_space has "
                    f"{self.distributions[name]}. Use a new study for another search space"
                )


def _single(dist: BaseDistribution) -> bool:
    return dist.single()


def _draw(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, IntDistribution):
        if dist.log:
            return int(min(dist.high, max(dist.low, round(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))))))
        return int(dist.low + dist.step * int(rng.integers((dist.high - dist.low) // dist.step + 1)))
    assert isinstance(dist, FloatDistribution)
    if dist.step is not None:
        return float(dist.low + dist.step * int(rng.integers(round((dist.high - dist.low) / dist.step) + 1)))
    if dist.log:
        return float(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
    return float(rng.uniform(dist.low, dist.high))


def _step(dist: BaseDistribution, value: Any, rng: np.random.Generator) -> Any:
    """A nearby other value: another choice, the next int either way, a float moved by a tenth of its range."""
    if isinstance(dist, CategoricalDistribution):
        others = [c for c in dist.choices if c != value]
        return others[int(rng.integers(len(others)))]
    if isinstance(dist, IntDistribution):
        if dist.log:
            moved = int(min(dist.high, max(dist.low, round(value * math.exp(rng.normal(0.0, 0.3))))))
            if moved != value:
                return moved
        near = [v for v in (value - dist.step, value + dist.step) if dist.low <= v <= dist.high]
        return int(near[int(rng.integers(len(near)))])
    assert isinstance(dist, FloatDistribution)
    if dist.log:
        moved = value * math.exp(rng.normal(0.0, 0.1 * math.log(dist.high / dist.low)))
    else:
        moved = value + rng.normal(0.0, 0.1 * (dist.high - dist.low))
    if dist.step is not None:
        moved = dist.low + dist.step * round((moved - dist.low) / dist.step)
    return float(min(dist.high, max(dist.low, moved)))


__all__ = ["ParamSpace"]
