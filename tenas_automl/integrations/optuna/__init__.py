"""Training-free NAS inside Optuna.

>>> import optuna
>>> from tenas_automl import get_space
>>> from tenas_automl.integrations.optuna import (
...     TrainingFreePruner, TrainingFreeSampler, suggest_architecture)
>>> space = get_space("nb201")
>>> def objective(trial):
...     arch = suggest_architecture(trial, space)   # six categorical parameters
...     if trial.should_prune():                    # training-free check, before training
...         raise optuna.TrialPruned()
...     return space.benchmark_accuracy(arch, "cifar10")   # or: train and validate
>>> study = optuna.create_study(
...     direction="maximize",
...     sampler=TrainingFreeSampler(space, indicators=("ntk", "lr"), seed=0),
...     pruner=TrainingFreePruner(space, indicators=("ntk", "lr")))  # doctest: +SKIP
>>> study.optimize(objective, n_trials=20)                            # doctest: +SKIP

The parameter names and choices are documented in
:mod:`tenas_automl.integrations.optuna._params` (``nb201/edge_1<-0`` ...,
``darts/normal/node2/inputs`` ...). Every sampler works with them; the
training-free sampler proposes whole architectures screened by indicators,
and the pruner stops weak ones before training. Both keep their state in the
study's storage, so processes sharing an RDB study cooperate and a resumed
study continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from optuna.distributions import CategoricalDistribution

from tenas_automl.integrations.optuna._params import ArchCodec, ArchitectureParamError, get_codec, suggest_architecture
from tenas_automl.integrations.optuna._plot import plot_study
from tenas_automl.integrations.optuna._pruner import ERROR_ATTR, FRACTION_BETTER_ATTR, PRUNED_ATTR, TrainingFreePruner
from tenas_automl.integrations.optuna._sampler import (
    ORIGIN_ATTR,
    SAMPLER_STRATEGIES,
    TrainingFreeSampler,
)
from tenas_automl.integrations.optuna._scores import ARCH_ATTR, SCORES_ATTR, SETTINGS_ATTR
from tenas_automl.integrations.optuna._storage import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    MAX_RETRY,
    HeartbeatJournalStorage,
    default_grace_period,
    open_storage,
)
from tenas_automl.integrations.optuna._study import (
    STUDY_STRATEGIES,
    benchmark_objective,
    make_sampler,
    run_optuna_study,
    summarize_study,
)
from tenas_automl.spaces import Space, resolve_space


def architecture_params(arch: Hashable | str, space: Space | str) -> dict[str, str]:
    """The parameters :func:`suggest_architecture` gives for ``arch`` (e.g. for ``study.enqueue_trial``)."""
    return get_codec(resolve_space(space)).params(arch)


def architecture_from_params(params: Mapping[str, Any], space: Space | str) -> Hashable:
    """The architecture a trial's ``params`` select (``study.best_params`` works)."""
    return get_codec(resolve_space(space)).arch(params)


def architecture_distributions(space: Space | str) -> dict[str, CategoricalDistribution]:
    """Name -> distribution of the architecture parameters, in suggestion order."""
    return dict(get_codec(resolve_space(space)).distributions)


__all__ = [
    "ARCH_ATTR",
    "ERROR_ATTR",
    "FRACTION_BETTER_ATTR",
    "GRACE_PERIOD_S",
    "HEARTBEAT_INTERVAL_S",
    "HeartbeatJournalStorage",
    "MAX_RETRY",
    "ORIGIN_ATTR",
    "PRUNED_ATTR",
    "SAMPLER_STRATEGIES",
    "SCORES_ATTR",
    "SETTINGS_ATTR",
    "STUDY_STRATEGIES",
    "ArchCodec",
    "ArchitectureParamError",
    "TrainingFreePruner",
    "TrainingFreeSampler",
    "architecture_distributions",
    "architecture_from_params",
    "architecture_params",
    "benchmark_objective",
    "default_grace_period",
    "make_sampler",
    "open_storage",
    "plot_study",
    "run_optuna_study",
    "summarize_study",
    "suggest_architecture",
]
