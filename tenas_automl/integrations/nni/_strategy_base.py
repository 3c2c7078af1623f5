"""What the training-free NNI strategies share: scoring, submission, metrics, checkpoint state.

The strategies themselves are in :mod:`tenas_automl.integrations.nni._strategies`.


Both strategies score candidates themselves with training-free indicators and
submit to NNI's execution engine only the few architectures worth training.
Their whole state is plain JSON (``state_dict``), so an NNI experiment resumes
where it stopped without re-submitting anything trained.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from nni.nas.execution import ExecutionEngine
from nni.nas.execution.event import ModelEventType, TrainingEndEvent
from nni.nas.space import ExecutableModelSpace, ModelStatus
from nni.nas.strategy import Strategy

from tenas_automl.config import ConfigSettings, ScoringConfig, ScoringConfigError, ScoringSettings, scoring_config
from tenas_automl.errors import TenasError
from tenas_automl.integrations.nni._codecs import Codec, make_codec
from tenas_automl.integrations.nni._compat import use_json_checkpoints
from tenas_automl.spaces.base import Space
from tenas_automl.strategies.selection import pick_best
from tenas_automl.strategies.surrogate import AdditiveModel, fit_additive

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

STATE_VERSION = 1


class StrategySettingError(TenasError, ValueError):
    """A bad setting of an NNI strategy (budget, sizes, indicators)."""


@dataclass
class SubmittedModel:
    """One architecture the strategy submitted to NNI, and what came back."""

    sample: dict[str, Any]
    arch: str
    #: ``running`` until the engine reports the end of training, then ``trained`` or ``failed``.
    status: str = "running"
    metric: float | None = None
    indicators: dict[str, float] = field(default_factory=dict)


def _positive(name: str, value: int | None, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise StrategySettingError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _as_metric(value: Any) -> float | None:
    """NNI metrics are floats, or dicts whose ``default`` entry is the float."""
    if isinstance(value, Mapping):
        value = value.get("default")
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _TrainingFreeStrategy(ConfigSettings, Strategy):
    """Shared machinery: codec, scoring cache, submission, metrics, checkpoint state."""

    #: Set to ``progress(done, total, info)`` to follow a run: called when a model
    #: finishes (models finished, budget) and during TE-NAS pruning. An attribute,
    #: not an argument, so NNI never has to serialise it with the strategy.
    progress: Callable[[int, int, str], None] | None = None
    #: Weight of the metric model's rank beside the indicators' (see
    #: :meth:`_best_by_indicators`); 0 here, so a strategy without a metric
    #: model never fits one. :class:`TENASPruningStrategy` takes it as an argument.
    surrogate_weight: float = 0.0

    def __init__(
        self,
        indicators: Sequence[str] | None,
        *,
        budget: int | None = None,
        space: Space | str | None = None,
        config: ScoringConfig | None = None,
        **settings: Unpack[ScoringSettings],
    ) -> None:
        super().__init__()
        try:
            self.config = scoring_config(config, indicators, ("ntk", "lr"), **settings)
            self.config.check_overrides_apply()
        except ScoringConfigError as exc:
            raise StrategySettingError(str(exc)) from None
        self.budget = _positive("budget", budget, allow_none=True)
        self.space_hint = space
        self._rng = np.random.default_rng(self.seed)
        self._codec: Codec | None = None
        self._trials: list[SubmittedModel] = []
        self._archs: list[Hashable] = []  # arch of each trial, same order
        self._scores: dict[Hashable, dict[str, float]] = {}
        # id(model) -> (model, trial index). Holding the model matters: NNI's
        # training-service engine keeps only weak references to submitted models.
        self._running: dict[int, tuple[ExecutableModelSpace, int]] = {}
        self._retry: list[int] = []  # trials interrupted before a checkpoint, to submit again
        self._restored: set[int] = set()  # trials finished before a resume (not in the engine)
        self._loaded: dict[str, Any] | None = None
        self._lock = threading.RLock()

    # -- what subclasses implement -------------------------------------------
    def _prepare(self) -> None:
        """Work before the first submission (skipped when restored from a state)."""

    def _next(self) -> Hashable | None:
        """The next architecture to submit, or None when there is none left."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra(self, state: Mapping[str, Any]) -> None:
        pass

    #: Error message for model spaces other than the NB201/DARTS hub spaces; None: any space works.
    _needs_space: str | None = None

    # -- NNI Strategy hooks ------------------------------------------------------
    def _initialize(self, model_space: ExecutableModelSpace, engine: ExecutionEngine) -> ExecutableModelSpace:
        use_json_checkpoints()
        self._codec = make_codec(
            model_space, self.indicators, self.config.evaluate_kwargs(), self.space_hint, require_space=self._needs_space
        )
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._on_training_end)
        if self._loaded is not None:
            self._apply_state(self._loaded)
            self._loaded = None
        return model_space

    def _cleanup(self) -> None:
        try:
            self.engine.unregister_model_event_callback(ModelEventType.TrainingEnd, self._on_training_end)
        except ValueError:  # already unregistered
            pass

    def _run(self) -> None:
        self._prepare()
        while self._budget_left():
            if not self.wait_for_resource():
                logger.info("the engine has no budget left")
                break
            with self._lock:
                retry = self._retry.pop(0) if self._retry else None
            arch = self._archs[retry] if retry is not None else self._next()
            if arch is None:
                logger.warning("%s: no untried architecture left; stopping after %d", type(self).__name__, len(self._trials))
                break
            self._submit(arch, retry)
        self.engine.wait_models()

    def list_models(self, sort: bool = True, limit: int | None = None) -> Iterator[ExecutableModelSpace]:
        """The models this strategy submitted, best metric first (``sort``), or all the engine ran.

        With ``sort`` (what ``NasExperiment.export_top_models`` uses) the list
        comes from the strategy's own records, so it includes models trained
        before a resume (NNI's engines forget those) and does not depend on
        when a training-service engine's database catches up. Without
        ``sort``: the models finished before a resume, then the engine's.
        """
        with self._lock:
            trials = list(enumerate(self._trials))
            restored = sorted(self._restored)
        if not sort:
            yield from [self._as_model(self._trials[i]) for i in restored] + list(self.engine.list_models())
            return
        done = [t for _, t in trials if t.status == "trained" and t.metric is not None]
        done.sort(key=lambda t: t.metric, reverse=True)  # type: ignore[arg-type,return-value]
        for t in done[:limit] if limit is not None else done:
            yield self._as_model(t)

    def _as_model(self, trial: SubmittedModel) -> ExecutableModelSpace:
        model = self.model_space.freeze(trial.sample)
        if trial.metric is not None:
            model.metrics.final = trial.metric
        model.status = {"trained": ModelStatus.Trained, "failed": ModelStatus.Failed}.get(trial.status, ModelStatus.Training)
        return model

    # -- checkpoint ----------------------------------------------------------------
    def _fingerprint(self) -> str:
        """What the cached indicator values depend on."""
        return self.config.cache_key()

    def state_dict(self) -> dict[str, Any]:
        """The strategy's whole state, JSON-serialisable (NNI's JsonSerializer works)."""
        with self._lock:
            if self._codec is None:  # never initialised (e.g. NNI saving after a failed start)
                return dict(self._loaded) if self._loaded is not None else {
                    "version": STATE_VERSION, "strategy": type(self).__name__, "space": None, "trials": [],
                }  # fmt: skip
            codec = self._codec
            return {
                "version": STATE_VERSION,
                "strategy": type(self).__name__,
                "space": codec.name,
                "fingerprint": self._fingerprint(),
                "rng": self._rng.bit_generator.state,
                "trials": [asdict(t) for t in self._trials],
                "scores": [[codec.to_sample(a), v] for a, v in self._scores.items()],
                **self._extra_state(),
            }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; before or after :meth:`initialize`.

        Trials that were still running when the state was saved are submitted
        again first; trained ones are never re-submitted.
        """
        if state_dict.get("strategy") != type(self).__name__:
            raise TenasError(f"state of {state_dict.get('strategy')!r} cannot be loaded into {type(self).__name__}")
        if self._codec is None:
            self._loaded = dict(state_dict)
        else:
            self._apply_state(state_dict)

    def _apply_state(self, state: Mapping[str, Any]) -> None:
        codec = self._require_codec()
        if state.get("space") is None and not state.get("trials"):
            return  # saved before it ever ran: nothing to restore
        if state.get("space") != codec.name:
            raise TenasError(f"state was saved on space {state.get('space')!r}, not {codec.name!r}")
        with self._lock:
            self._rng.bit_generator.state = state["rng"]
            self._trials = [SubmittedModel(**t) for t in state["trials"]]
            self._archs = [codec.from_sample(t.sample) for t in self._trials]
            self._running.clear()
            self._retry = [i for i, t in enumerate(self._trials) if t.status == "running"]
            self._restored = {i for i, t in enumerate(self._trials) if t.status != "running"}
            if state.get("fingerprint") == self._fingerprint():
                self._scores = {codec.from_sample(s): dict(v) for s, v in state["scores"]}
            else:
                logger.warning("indicator settings changed since the checkpoint; cached scores dropped")
                self._scores = {}
            self._load_extra(state)
        logger.info(
            "%s restored: %d models submitted before, %d to retry", type(self).__name__, len(self._trials), len(self._retry)
        )

    # -- helpers ---------------------------------------------------------------------
    def _require_codec(self) -> Codec:
        if self._codec is None:
            raise RuntimeError(f"{type(self).__name__} is not initialised with a model space yet")
        return self._codec

    def _budget_left(self) -> bool:
        with self._lock:
            fresh = len(self._trials)
            return self.budget is None or fresh < self.budget or bool(self._retry)

    def _score(self, archs: Sequence[Hashable]) -> list[dict[str, float]]:
        """Indicator values of ``archs``, scoring only those not cached."""
        codec = self._require_codec()
        new = [a for a in dict.fromkeys(archs) if a not in self._scores]
        if new:
            values = codec.score(new)
            for i, a in enumerate(new):
                self._scores[a] = {n: float(values[n][i]) for n in self.indicators}
            logger.debug("scored %d architectures (%d cached)", len(new), len(self._scores))
        return [self._scores[a] for a in archs]

    def _best_by_indicators(self, archs: Sequence[Hashable], model: AdditiveModel | None = None) -> int:
        """Index of the smallest indicator rank sum among ``archs`` (ties: the first).

        With a ``model`` of the metric, the smallest indicator rank plus
        ``surrogate_weight`` times the model's rank (see :func:`guided_order`).
        """
        rows = self._score(archs)
        cols = {n: np.array([r[n] for r in rows]) for n in self.indicators}
        predicted = None if model is None else model.predict([self._key(a) for a in archs])
        return pick_best(cols, self.higher_is_better, self.combinations, predicted=predicted, weight=self.surrogate_weight)

    def _key(self, arch: Hashable) -> tuple[Hashable, ...]:
        """The choice at each position of ``arch`` (the op of each edge; None for an unused DARTS edge)."""
        space = self._require_codec().space
        assert space is not None
        return tuple(ops[0] if ops else None for ops in space.arch_to_mask(arch))

    def _metric_model(self) -> AdditiveModel | None:
        """The additive model of the trained models' metric (None when switched off)."""
        if self.surrogate_weight == 0:
            return None
        with self._lock:
            rows = [
                (self._key(a), t.metric) for a, t in zip(self._archs, self._trials)
                if t.status == "trained" and t.metric is not None and math.isfinite(t.metric)
            ]  # fmt: skip
        return fit_additive([k for k, _ in rows], [v for _, v in rows])

    def _submit(self, arch: Hashable, retry: int | None = None) -> None:
        codec = self._require_codec()
        sample = codec.to_sample(arch)
        model = self.model_space.freeze(sample)
        with self._lock:
            values = self._scores.get(arch, {})
            if retry is None:
                self._trials.append(SubmittedModel(sample=sample, arch=codec.label(arch), indicators=dict(values)))
                self._archs.append(arch)
                index = len(self._trials) - 1
            else:
                index = retry
                self._trials[index].status = "running"
            self._running[id(model)] = (model, index)
        logger.info("submit %d: %s", index + 1, codec.label(arch))
        self.engine.submit_models(model)

    def _on_training_end(self, event: TrainingEndEvent) -> None:
        with self._lock:
            entry = self._running.get(id(event.model))
            if entry is None or entry[0] is not event.model:
                return  # a model someone else submitted to this engine
            del self._running[id(event.model)]
            index = entry[1]
            trial = self._trials[index]
            trial.metric = _as_metric(event.model.metric)
            trial.status = "trained" if event.status == ModelStatus.Trained and trial.metric is not None else "failed"
            finished = sum(t.status != "running" for t in self._trials)
            ranked = self._ranked_trials()
            best = f"best {self._trials[ranked[0]].metric:.4g}" if ranked else ""
        logger.info("model %d %s: metric %s", index + 1, trial.status, trial.metric)
        if self.progress is not None:
            self.progress(finished, self.budget or len(self._trials), best)

    # -- read-only views ---------------------------------------------------------------
    @property
    def submitted(self) -> list[SubmittedModel]:
        """Every model submitted so far, in order (copies)."""
        with self._lock:
            return [SubmittedModel(**asdict(t)) for t in self._trials]

    @property
    def codec(self) -> Codec:
        """How this strategy reads the model space (set by :meth:`initialize`)."""
        return self._require_codec()

    @property
    def scored(self) -> int:
        """Distinct architectures scored by the indicators so far (pruning candidates not included)."""
        return len(self._scores)

    def _ranked_trials(self) -> list[int]:
        """Trained trials by metric (best first; ties: earlier first)."""
        trained = [i for i, t in enumerate(self._trials) if t.status == "trained"]
        return sorted(trained, key=lambda i: (-(self._trials[i].metric or -math.inf), i))

    def extra_repr(self) -> str:
        return f"indicators={self.indicators}, budget={self.budget}, seed={self.seed}"
