"""``TrainingFreePruner``: stop weak architectures before any training step.

Call ``trial.should_prune()`` once after suggesting the architecture and before
training: with no intermediate value reported yet, the pruner scores the
trial's architecture with training-free indicators and prunes it when its
combined rank is below ``percentile`` of the architectures scored so far in the
study. After the first ``trial.report``, it hands over to ``wrapped`` (for
example a :class:`optuna.pruners.MedianPruner`) for learning-curve pruning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial

from tenas_automl.config import ScoringConfig, ScoringSettings, scoring_config
from tenas_automl.errors import TenasError
from tenas_automl.integrations.optuna._params import get_codec
from tenas_automl.integrations.optuna._scores import ModelTrialScorer, TrialScorer, Values
from tenas_automl.spaces import Space, resolve_space

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

#: User attribute set on trials this pruner stopped before training.
PRUNED_ATTR = "tenas:pruned"
#: User attribute: why a trial with a ``model_fn`` could not be scored (it is pruned).
ERROR_ATTR = "tenas:error"
#: User attribute: fraction of the earlier scored trials that rank strictly better.
FRACTION_BETTER_ATTR = "tenas:fraction_better"


class TrainingFreePruner(BasePruner):
    """Prune architectures by training-free indicators before training; then defer to ``wrapped``.

    At ``trial.should_prune()`` before any ``trial.report``, the trial's
    architecture (read from its parameters, see
    :func:`~tenas_automl.integrations.optuna.suggest_architecture`) is scored
    (cached; values are stored in the trial's user attributes, as the
    :class:`TrainingFreeSampler` does, so processes sharing a study see each
    other's scores). Among that architecture and the other scored trials of the
    study, architectures are ranked by the sum of their per-indicator ranks;
    the trial is pruned when its combined score is below the ``percentile``-th
    percentile of the scores seen so far, i.e. fewer than ``percentile``
    percent of the other scored trials rank worse (ties count half): 50 prunes
    below the median (about half), 25 only the worst quarter, 0 nothing. Nothing is pruned until ``warmup``
    other trials have scores.

    With ``model_fn`` instead of a space, it screens any objective:
    ``model_fn(params)`` builds the trial's model from the parameters suggested
    so far, :func:`tenas_automl.score_model` scores it (default indicator
    ``naswot``), and the trial's parameters stand for its architecture. A
    ``model_fn`` that raises, or a model the indicators cannot run, prunes that
    trial with the one-line cause in its ``tenas:error`` attribute; the study
    goes on.

    Example:
        .. code-block:: python

            def build(params):
                return make_cnn(params["depth"], params["width"])

            pruner = TrainingFreePruner(model_fn=build, indicators=("naswot",), warmup=5)

            def objective(trial):
                depth, width = trial.suggest_int("depth", 2, 8), trial.suggest_int("width", 8, 64, log=True)
                if trial.should_prune():       # scored without training
                    raise optuna.TrialPruned()
                return train(make_cnn(depth, width))

    Args:
        space: the search space (object or name); None with ``model_fn``.
        indicators: indicator names.
        percentile: in [0, 100]; higher prunes more.
        warmup: scored trials needed before pruning starts.
        wrapped: pruner used once the trial has reported intermediate values.
        seed, device, dataset, data_dir, mode, overrides, cache_dir, use_cache:
            indicator evaluation (give the sampler's values to share its scores;
            with other values each keeps its own on the trial, at the cost of
            scoring every trial twice).
        config: the indicators and their settings as one
            :class:`~tenas_automl.ScoringConfig` (the sampler's ``scorer.config``
            shares its scores), instead of ``indicators`` and ``seed`` to ``overrides``.
        model_fn: ``params -> nn.Module`` for objectives outside our spaces.
    """

    def __init__(
        self,
        space: Space | str | None = None,
        indicators: Sequence[str] | None = None,
        percentile: float = 50.0,
        warmup: int = 5,
        wrapped: BasePruner | None = None,
        *,
        cache_dir: str | None = None,
        use_cache: bool = True,
        config: ScoringConfig | None = None,
        model_fn: Callable[[dict[str, Any]], Any] | None = None,
        **settings: Unpack[ScoringSettings],
    ) -> None:
        if not 0.0 <= float(percentile) <= 100.0:
            raise TenasError(f"percentile must be in [0, 100], got {percentile!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise TenasError(f"warmup must be a non-negative integer, got {warmup!r}")
        if wrapped is not None and not isinstance(wrapped, BasePruner):
            raise TenasError(f"wrapped must be an optuna BasePruner, got {type(wrapped).__name__}")
        if (space is None) == (model_fn is None):
            raise TenasError("TrainingFreePruner needs a space (nb201, darts) or a model_fn, and not both")
        self.percentile, self.warmup, self.wrapped = float(percentile), warmup, wrapped
        self.model_fn = model_fn
        config = scoring_config(config, indicators, ("ntk", "lr") if model_fn is None else ("naswot",), **settings)
        self.scorer: TrialScorer
        if model_fn is not None:
            self.space, self.codec = None, None
            self.scorer = ModelTrialScorer(model_fn, config)
        else:
            self.space = resolve_space(space)
            self.codec = get_codec(self.space)
            self.scorer = TrialScorer(self.space, self.codec, config, cache_dir=cache_dir, use_cache=use_cache)

    def __repr__(self) -> str:
        return (
            f"TrainingFreePruner({self.space.name if self.space else 'model_fn'!r}, indicators={self.scorer.indicators}, "
            f"percentile={self.percentile}, warmup={self.warmup}, wrapped={self.wrapped!r})"
        )

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if study._is_multi_objective():
            raise TenasError(
                f"TrainingFreePruner needs a single-objective study; this one has {len(study.directions)} "
                "objectives (Optuna does not prune multi-objective trials)"
            )
        if trial.intermediate_values:
            return self.wrapped.prune(study, trial) if self.wrapped is not None else False
        if self.codec is not None:
            arch: Any = self.codec.arch(trial.params)  # names the parameters the objective must suggest
        else:
            arch = dict(trial.params)
        try:
            mine = self._values(study, trial, arch)
        except TenasError as exc:
            if self.model_fn is None:
                raise
            message = f"trial {trial.number}: {exc}"
            logger.error("%s; pruned", message)
            study._storage.set_trial_user_attr(trial._trial_id, ERROR_ATTR, message)
            return True
        others = self._others(study, trial)
        if len(others) < self.warmup or not others:
            return False
        ranks = self.scorer.combined_rank([*others, mine])
        better = float(np.mean(ranks[:-1] < ranks[-1]))
        worse = float(np.mean(ranks[:-1] > ranks[-1]))
        study._storage.set_trial_user_attr(trial._trial_id, FRACTION_BETTER_ATTR, better)
        # Mid-rank percentile of this trial among the others (ties count half).
        position = 100.0 * (worse + 0.5 * (1.0 - better - worse))
        prune = position < self.percentile
        if prune:
            study._storage.set_trial_user_attr(trial._trial_id, PRUNED_ATTR, True)
            logger.info("trial %d pruned before training (%.0f%% of %d scored trials rank better)",
                        trial.number, 100 * better, len(others))  # fmt: skip
        return prune

    def _values(self, study: optuna.Study, trial: FrozenTrial, arch: Any) -> Values:
        arch_str = self.scorer.label(arch)
        latest = study._storage.get_trial(trial._trial_id)
        values = self.scorer.stored(latest, arch_str)
        if values is None:
            values = self.scorer.score(arch)
            self.scorer.write(study, trial._trial_id, arch, values)
        return values

    def _others(self, study: optuna.Study, me: FrozenTrial) -> list[Values]:
        out = []
        for t in study._storage.get_all_trials(study._study_id, deepcopy=False):
            if t._trial_id == me._trial_id:
                continue
            values = self.scorer.stored(t)
            if values is not None:
                out.append(values)
        return out


__all__ = ["ERROR_ATTR", "FRACTION_BETTER_ATTR", "PRUNED_ATTR", "TrainingFreePruner"]
