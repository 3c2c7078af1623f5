"""Training-free scores of trials: computed once, cached, shared through the study.

Values are written to each trial's user attributes (``tenas:<indicator>``,
non-finite values as ``None``) together with ``tenas:arch`` (the scored
architecture) and ``tenas:settings`` (one string per indicator naming its
settings, seed and data). Another process, or a resumed run, reuses a stored
value only when that string matches its own, so values computed with other
settings are never mixed into a ranking. ``tenas:scores`` maps each such
string to its value, so a sampler and a pruner scoring with different
settings (another seed, say) both find their own values on a trial; the
``tenas:<indicator>`` attributes show the latest.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from tenas_automl.config import ScoringConfig
from tenas_automl.errors import TenasError
from tenas_automl.indicators import pool_ranking
from tenas_automl.integrations.optuna._params import ArchCodec
from tenas_automl.scoring import score_many
from tenas_automl.spaces.base import Space

logger = logging.getLogger(__name__)

ATTR_PREFIX = "tenas:"
ARCH_ATTR = "tenas:arch"
SETTINGS_ATTR = "tenas:settings"
SCORES_ATTR = "tenas:scores"

Values = dict[str, float]


def _attr_value(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


class TrialScorer:
    """Scores architectures with a fixed set of indicators, thread-safely and cached
    (in memory, and on disk by :func:`~tenas_automl.scoring.score_many`).

    Args:
        space: the search space.
        codec: its parameter codec.
        config: the indicators and their settings (a :class:`~tenas_automl.ScoringConfig`);
            every override must be for one of its indicators.
        cache_dir, use_cache: the on-disk score cache of
            :func:`tenas_automl.scoring.score_many` (default location:
            ``$TENAS_CACHE_DIR`` or ``~/.cache/tenas-automl``).
    """

    def __init__(
        self,
        space: Space,
        codec: ArchCodec,
        config: ScoringConfig,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
    ) -> None:
        self.space, self.codec = space, codec
        self.cache_dir, self.use_cache = cache_dir, bool(use_cache)
        config.check_overrides_apply()
        self.config = config
        #: The indicators scored (a combination's members in its place) and the combinations ranking by them.
        self.indicators, self.combinations = config.members, config.combinations
        self.higher_is_better = config.higher_is_better
        #: Per indicator, the string naming its settings, stored on each trial beside its value.
        self.settings_keys = config.indicator_keys()
        self._cache: dict[Hashable, Values] = {}
        self._lock = threading.RLock()
        #: Architectures scored (not served by a cache) by this object.
        self.evaluations = 0

    # -- values ----------------------------------------------------------------
    def scores(self, archs: Sequence[Hashable]) -> list[Values]:
        """Indicator values of each arch; uncached ones are scored in one call."""
        keys = [self.key(a) for a in archs]
        with self._lock:
            todo: dict[Hashable, Hashable] = {}
            for key, arch in zip(keys, archs):
                if key not in self._cache and key not in todo:
                    todo[key] = arch
            if todo:
                self._score_new(todo)
            return [dict(self._cache[k]) for k in keys]

    def _score_new(self, todo: Mapping[Hashable, Hashable]) -> None:
        """Score the architectures ``todo`` (by key) into the in-memory cache."""
        results = score_many(
            self.space, list(todo.values()), self.indicators, **self.config.evaluate_kwargs(),
            cache_dir=self.cache_dir, use_cache=self.use_cache,
        )  # fmt: skip
        for key, result in zip(todo, results):
            self._cache[key] = {n: float(result.values[n]) for n in self.indicators}
            self.evaluations += int(len(result.cached) < len(self.indicators))

    def key(self, arch: Hashable) -> Hashable:
        """The in-memory cache key of ``arch``."""
        return self.codec.key(arch)

    def label(self, arch: Hashable) -> str:
        """The string stored as a trial's ``tenas:arch``."""
        return self.space.format(arch)

    def score(self, arch: Hashable) -> Values:
        return self.scores([arch])[0]

    def combined_rank(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Rank of ``rows`` within them (lower is better): TE-NAS's rank sum, ties sharing the
        average rank, or a named combination's log-rank sum (:func:`~tenas_automl.indicators.pool_ranking`)."""
        if not rows:
            return np.zeros(0)
        return pool_ranking(self.columns(rows), self.higher_is_better, self.combinations, method="average")

    def columns(self, rows: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
        """Each indicator's values over ``rows`` (NaN where a row lacks one)."""
        return {n: [r.get(n, math.nan) for r in rows] for n in self.indicators}

    # -- trials ------------------------------------------------------------------
    def stored(self, trial: FrozenTrial, arch_str: str | None = None) -> Values | None:
        """Values stored on ``trial`` with this scorer's settings (for ``arch_str`` if given)."""
        attrs = trial.user_attrs
        if arch_str is not None and attrs.get(ARCH_ATTR) != arch_str:
            return None
        scores = attrs.get(SCORES_ATTR)
        scores = scores if isinstance(scores, Mapping) else {}
        keys = attrs.get(SETTINGS_ATTR)
        keys = keys if isinstance(keys, Mapping) else {}
        out: Values = {}
        for n in self.indicators:
            key = self.settings_keys[n]
            if key in scores:
                v = scores[key]
            elif keys.get(n) == key and f"{ATTR_PREFIX}{n}" in attrs:  # written before tenas:scores existed
                v = attrs[f"{ATTR_PREFIX}{n}"]
            else:
                return None
            out[n] = math.nan if v is None else float(v)
        return out

    def remember(self, key: Hashable, values: Values) -> None:
        """Cache ``values`` (read from a trial) for the architecture with codec key ``key``."""
        with self._lock:
            self._cache.setdefault(key, dict(values))

    def write(self, study: optuna.Study, trial_id: int, arch: Hashable, values: Values) -> None:
        """Store ``values`` of ``arch`` on a running trial."""
        storage = study._storage
        arch_str = self.label(arch)
        attrs = storage.get_trial(trial_id).user_attrs
        prev = attrs.get(SETTINGS_ATTR)
        prev_scores = attrs.get(SCORES_ATTR)
        # Values of other settings stay valid only while they describe the same arch.
        same = attrs.get(ARCH_ATTR) == arch_str
        keys = dict(prev) if same and isinstance(prev, Mapping) else {}
        scores = dict(prev_scores) if same and isinstance(prev_scores, Mapping) else {}
        keys.update(self.settings_keys)
        scores.update({self.settings_keys[n]: _attr_value(v) for n, v in values.items()})
        storage.set_trial_user_attr(trial_id, ARCH_ATTR, arch_str)
        for n, v in values.items():
            storage.set_trial_user_attr(trial_id, f"{ATTR_PREFIX}{n}", _attr_value(v))
        storage.set_trial_user_attr(trial_id, SETTINGS_ATTR, keys)
        storage.set_trial_user_attr(trial_id, SCORES_ATTR, scores)


class ModelTrialScorer(TrialScorer):
    """A :class:`TrialScorer` for any model: a trial's "architecture" is its parameters,
    built into a module by ``model_fn(params)`` and scored by
    :func:`tenas_automl.score_model` (the indicators of :data:`~tenas_automl.model_scoring.MODEL_INDICATORS`)."""

    def __init__(self, model_fn: Any, config: ScoringConfig, params_of: Any = dict, **kwargs: Any) -> None:
        from tenas_automl.model_scoring import check_model_indicators

        if not callable(model_fn):
            raise TenasError(f"model_fn must be a callable params -> nn.Module, got {type(model_fn).__name__}")
        check_model_indicators(config.members)
        self.model_fn, self.params_of = model_fn, params_of
        super().__init__(None, None, config, use_cache=False, **kwargs)  # type: ignore[arg-type]
        # Values of a user's model are not those of a supernet cell: their own settings keys.
        self.settings_keys = {n: f"model|{k}" for n, k in self.settings_keys.items()}

    def key(self, arch: Hashable) -> Hashable:
        return self.label(arch)

    def label(self, arch: Hashable) -> str:
        return json.dumps(self.params_of(arch), sort_keys=True, default=str)

    def _score_new(self, todo: Mapping[Hashable, Hashable]) -> None:
        from tenas_automl.model_scoring import score_params

        for key, params in todo.items():
            self._cache[key] = score_params(self.model_fn, self.params_of(params), self.config)
            self.evaluations += 1
