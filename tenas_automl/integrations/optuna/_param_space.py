"""A plain Optuna search space (``{name: distribution}``) as the sampler's space and codec.

:class:`~tenas_automl.integrations.optuna.TrainingFreeSampler` searches
NB201 and DARTS through their :class:`~tenas_automl.spaces.Space` and
:class:`~._params.ArchCodec`. With ``model_fn`` and ``search_space`` it
searches any objective's parameters instead: :class:`ParamSpace` is the
framework-free :class:`tenas_automl.spaces.params.ParamSpace` (draws,
one-parameter mutations, JSON form) of the Optuna distributions, which it
keeps for the sampler's search space and for checking trials against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from tenas_automl.errors import TenasError
from tenas_automl.integrations.optuna._params import ArchitectureParamError
from tenas_automl.spaces import params as core


class ParamSpace(core.ParamSpace):
    """Sampling, mutation and the codec of a ``{name: distribution}`` search space."""

    error = ArchitectureParamError

    def __init__(self, search_space: Mapping[str, BaseDistribution]) -> None:
        if not isinstance(search_space, Mapping) or not search_space:
            raise TenasError("search_space must be a non-empty {name: optuna distribution} dict")
        super().__init__({name: _param(name, dist) for name, dist in search_space.items()})
        self.distributions: dict[str, BaseDistribution] = dict(search_space)

    def describe(self, name: str) -> str:
        return str(self.distributions[name])

    def check_distributions(self, distributions: Mapping[str, Any], where: str) -> None:
        for name, dist in distributions.items():
            if name in self.distributions and dist != self.distributions[name]:
                raise ArchitectureParamError(
                    f"{where} has parameter {name!r} as {dist}; the sampler's search_space has "
                    f"{self.distributions[name]}. Use a new study for another search space"
                )


def _param(name: str, dist: Any) -> core.Param:
    if isinstance(dist, CategoricalDistribution):
        return core.Categorical(tuple(dist.choices))
    if isinstance(dist, IntDistribution):
        return core.IntParam(dist.low, dist.high, dist.step, dist.log)
    if isinstance(dist, FloatDistribution):
        return core.FloatParam(dist.low, dist.high, dist.step, dist.log)
    raise TenasError(
        f"search_space[{name!r}] is a {type(dist).__name__}; expected CategoricalDistribution, "
        "IntDistribution or FloatDistribution"
    )
