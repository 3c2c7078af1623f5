"""What :class:`~tenas_automl.integrations.optuna.TrainingFreeSampler` reads from a study's storage.

Every proposal is made from a fresh read of the storage (so that processes
sharing a study, and a resumed study, see every trial): which architectures
are taken, which trials completed with which value, and which were scored
with the sampler's own settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tenas_automl.errors import TenasError
from tenas_automl.integrations.optuna._params import ArchCodec
from tenas_automl.integrations.optuna._scores import ARCH_ATTR, TrialScorer, Values
from tenas_automl.spaces import Space

logger = logging.getLogger("tenas_automl.integrations.optuna._sampler")

Key = tuple[str, ...]


@dataclass
class _View:
    """What the study's storage says, seen from one trial."""

    #: Architectures of every other trial (finished, running or waiting): never re-proposed.
    taken: set[Key] = field(default_factory=set)
    #: (trial number, arch key, objective value) of completed trials.
    completed: list[tuple[int, Key, float]] = field(default_factory=list)
    #: (trial number, arch key, indicator values) of trials scored with our settings.
    scored: list[tuple[int, Key, Values]] = field(default_factory=list)


class StudyReader:
    """The storage reads of the sampler (a mixin over its codec, scorer and memo tables)."""

    space: Space
    codec: ArchCodec
    scorer: TrialScorer
    _parsed: dict[str, Key | None]
    _checked: set[int]

    def _key_of_trial(self, trial: FrozenTrial) -> Key | None:
        key = self.codec.key_of_params(trial.params)
        if key is not None:
            return key
        fixed = trial.system_attrs.get("fixed_params")
        if isinstance(fixed, Mapping):
            key = self.codec.key_of_params(fixed)
            if key is not None:
                return key
        return self._parse_claim(trial.user_attrs.get(ARCH_ATTR))

    def _given_params(self, trial: FrozenTrial) -> dict[str, Any] | None:
        """The architecture parameters fixed before sampling: enqueued, or a dead worker's trial queued again."""
        fixed = trial.system_attrs.get("fixed_params", {}) or {}
        if self.codec.has_arch(fixed):
            return dict(fixed)
        if self.codec.has_arch(trial.params):  # a retry of a stale trial copies params, not fixed_params
            return dict(trial.params)
        if "failed_trial" in trial.system_attrs:
            # A worker killed inside ask() had claimed an architecture but set no parameters yet;
            # the retry copied the claim with the user attributes.
            key = self._parse_claim(trial.user_attrs.get(ARCH_ATTR))
            if key is not None:
                return dict(self.codec.params(self.codec.arch_of_key(key)))
        return None

    def _parse_claim(self, claim: object) -> Key | None:
        """The key of an arch string stored in a trial (memoised), None if absent or invalid."""
        if not isinstance(claim, str):
            return None
        if claim not in self._parsed:
            try:
                self._parsed[claim] = self.codec.key(self.space.parse(claim))
            except ValueError:
                self._parsed[claim] = None
        return self._parsed[claim]

    def _view(self, study: optuna.Study, me: FrozenTrial) -> _View:
        view = _View()
        for t in study._storage.get_all_trials(study._study_id, deepcopy=False):
            if t._trial_id == me._trial_id:
                continue
            key = self._key_of_trial(t)
            if key is None:
                continue
            view.taken.add(key)
            if t.state == TrialState.COMPLETE and t.values is not None:
                view.completed.append((t.number, key, float(t.values[0])))
            values = self.scorer.stored(t)
            if values is not None and self._parse_claim(t.user_attrs.get(ARCH_ATTR)) == key:
                view.scored.append((t.number, key, values))
                self.scorer.remember(key, values)
        return view

    def _other_claims(self, study: optuna.Study, me: FrozenTrial) -> set[Key]:
        # Every state counts: the other trial may have claimed and even finished
        # between our reading of the study and our claim.
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        keys = (self._key_of_trial(t) for t in trials if t._trial_id != me._trial_id)
        return {k for k in keys if k is not None}

    def _check_study(self, study: optuna.Study) -> None:
        """Reject multi-objective studies and architecture parameters that do not match the space."""
        if study._is_multi_objective():
            raise TenasError(
                f"TrainingFreeSampler needs a single-objective study; this one has {len(study.directions)} objectives"
            )
        foreign = []
        for t in study._storage.get_all_trials(study._study_id, deepcopy=False):
            if t._trial_id in self._checked:
                continue
            self.codec.check_distributions(t.distributions, f"trial {t.number} of study {study.study_name!r}")
            if t.state.is_finished():
                self._checked.add(t._trial_id)
                if t.state == TrialState.COMPLETE and self._key_of_trial(t) is None:
                    foreign.append(t.number)
        if foreign:
            # Documented fallback: such trials (other parameter names) say nothing about architectures.
            logger.warning(
                "TrainingFreeSampler ignores completed trial(s) %s of study %r: they have no %s architecture "
                "parameters (%s, ...), so their values cannot guide the search",
                ", ".join(map(str, foreign)), study.study_name, self.space.name, self.codec.names[0],
            )  # fmt: skip


__all__ = ["Key", "StudyReader"]
