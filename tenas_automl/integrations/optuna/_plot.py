"""``plot_study``: what an Optuna study tried, as a PNG (``run --engine optuna --plot``)."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from tenas_automl.errors import TenasError
from tenas_automl.integrations.optuna._sampler import ORIGIN_ATTR
from tenas_automl.integrations.optuna._scores import ATTR_PREFIX, SETTINGS_ATTR
from tenas_automl.report import plot_trials
from tenas_automl.spaces import Space, resolve_space


def _value(t: optuna.trial.FrozenTrial, name: str) -> float:
    v = t.user_attrs.get(f"{ATTR_PREFIX}{name}")
    return float(v) if isinstance(v, (int, float)) else math.nan


def plot_study(study: optuna.Study, path: str | Path, space: Space | str | None = None, dataset: str = "cifar10") -> Path:
    """Draw each finished trial's objective value with the best so far, then each stored indicator.

    Points are marked by how the training-free sampler chose them (``tenas:origin``:
    prune, neighbour, mutation, startup) where it did; pruned and failed trials
    appear in the indicator panels only. With an NB201 ``space`` a dotted line
    shows the space's best accuracy on ``dataset``. Single-objective studies only.
    """
    if study._is_multi_objective():
        raise TenasError(f"plot_study draws single-objective studies; {study.study_name!r} has several objectives")
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    names: dict[str, None] = {}
    for t in trials:
        keys = t.user_attrs.get(SETTINGS_ATTR)
        if isinstance(keys, dict):
            names.update(dict.fromkeys(keys))
    best = None
    if space is not None:
        best_accuracy = getattr(resolve_space(space), "best_accuracy", None)
        best = None if best_accuracy is None else best_accuracy(dataset)
    return plot_trials(
        path,
        [t.values[0] if t.state == TrialState.COMPLETE and t.values else None for t in trials],
        {n: [_value(t, n) for t in trials] for n in names},
        origins=[str(t.user_attrs.get(ORIGIN_ATTR, "trial")) for t in trials],
        numbers=[t.number for t in trials],
        maximize=study.direction == StudyDirection.MAXIMIZE,
        best=best,
        title=f"Optuna study {study.study_name!r}: {len(trials)} finished trials",
    )


__all__ = ["plot_study"]
