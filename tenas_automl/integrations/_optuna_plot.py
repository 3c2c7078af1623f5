"""``plot_study``: what an Optuna study tried, as a PNG (``run --engine optuna --plot``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from tenas_automl._figures import pyplot, save_figure
from tenas_automl.integrations._optuna_sampler import ORIGIN_ATTR, _resolve_space
from tenas_automl.integrations._optuna_scores import ATTR_PREFIX, SETTINGS_ATTR
from tenas_automl.spaces import Space

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _indicator_names(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    names: dict[str, None] = {}
    for t in trials:
        keys = t.user_attrs.get(SETTINGS_ATTR)
        if isinstance(keys, dict):
            names.update(dict.fromkeys(keys))
    return list(names)


def _value(t: optuna.trial.FrozenTrial, name: str) -> float:
    v = t.user_attrs.get(f"{ATTR_PREFIX}{name}")
    return float(v) if isinstance(v, (int, float)) else math.nan


def plot_study(
    study: optuna.Study, path: str | Path, space: Space | str | None = None, dataset: str = "cifar10"
) -> Path:
    """Draw each trial's objective value with the best so far, then each stored indicator per trial.

    Points are marked by how the training-free sampler chose them (``tenas:origin``:
    prune, neighbour, mutation, startup) where it did; pruned trials appear in the
    indicator panels only. With an NB201 ``space`` a dotted line shows the space's
    best accuracy on ``dataset``. The file is written atomically.
    """
    plt = pyplot()
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    names = _indicator_names(trials)
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.4 * (1 + len(names)), 3.4), squeeze=False)
    axes = list(axes.flat)
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None and len(t.values) == 1]
    ax = axes[0]
    origins = sorted({str(t.user_attrs.get(ORIGIN_ATTR, "trial")) for t in done})
    for marker, origin in zip(_MARKERS * 4, origins):
        pick = [t for t in done if str(t.user_attrs.get(ORIGIN_ATTR, "trial")) == origin]
        ax.scatter([t.number for t in pick], [t.values[0] for t in pick], s=14, marker=marker, alpha=0.7, label=origin)
    if done:
        pick_best = np.maximum.accumulate if study.direction == StudyDirection.MAXIMIZE else np.minimum.accumulate
        ax.step([t.number for t in done], pick_best([t.values[0] for t in done]), where="post", color="k",
                lw=1.0, label="best so far")  # fmt: skip
    if space is not None:
        sp = _resolve_space(space)
        best = getattr(sp, "best_accuracy", None)
        if best is not None:
            ax.axhline(best(dataset), color="gray", ls=":", lw=0.8, label=f"space best {best(dataset):.2f}")
    ax.set(title="objective value per trial", xlabel="trial", ylabel="value")
    ax.legend(fontsize=7)
    for ax, name in zip(axes[1:], names):
        for state, marker in ((TrialState.COMPLETE, "o"), (TrialState.PRUNED, "x")):
            pick = [t for t in trials if t.state == state]
            if pick:
                ax.scatter([t.number for t in pick], [_value(t, name) for t in pick], s=12, marker=marker,
                           alpha=0.7, label=state.name.lower())  # fmt: skip
        ax.set(title=f"{name} of each trial's architecture", xlabel="trial")
        if name == "ntk":
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(f"Optuna study {study.study_name!r}: {len(trials)} finished trials", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["plot_study"]
