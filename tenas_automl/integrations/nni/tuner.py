"""A training-free NNI HPO tuner: indicator-guided evolution for ``nnictl`` experiments.

:class:`TrainingFreeTuner` is an ordinary ``nni.tuner.Tuner``. Put it in the
``tuner`` section of an experiment's YAML (see ``docs/nni_yaml.md``)::

    tuner:
      className: tenas_automl.integrations.nni.tuner.TrainingFreeTuner
      codeDirectory: .
      classArgs: {space: nb201, indicators: [ntk, lr], seed: 0}

The search space is the one :mod:`tenas_automl.integrations.nni.config`
writes (one ``choice`` per NB201 edge, or per DARTS op and input), or, with
``model_fn`` (``classArgs: {model_fn: "cnn_space:build"}``), any flat NNI
search space of the user's own model family: each candidate is
``model_fn(params)`` scored by :func:`tenas_automl.score_model`
(see ``docs/nni_yaml.md``). Every
proposal is scored without training on the NNI manager's machine, so only
promising architectures reach the (expensive) trials:

``evolution`` (default)
    Before any trial has reported, the tuner scores a random pool of
    ``population_size`` architectures and proposes them best rank sum first (and,
    once they are used up, indicator-ranked mutations of tournament winners
    of that pool). Once trials report metrics, parents are chosen by the
    *reported metric*: a tournament of ``tournament_size`` among the last
    ``population_size`` finished trials (aging evolution); ``candidates``
    mutations of the winner are scored and the best by indicator rank sum is
    proposed.
``random``
    Each proposal is the best of ``candidates`` uniform samples by indicator
    rank sum (NASWOT's search, one trial at a time); metrics are recorded but
    not used.

Nothing is proposed twice, in flight or not (NB201 architectures are compared
up to isomorphism); when every architecture the search space allows has been
proposed the tuner raises ``nni.NoMoreTrialError``.

Scoring cost: ``scoring="fast"`` (default) uses cheap indicator settings, a
fraction of a second per architecture on one CPU core for ``ntk`` + ``lr`` (see
:data:`SCORING_PRESETS`); ``scoring="paper"`` uses the papers' settings
(seconds per architecture); ``overrides`` adjusts single settings on top.

State (trials, results, indicator values, the random generator) is written
after every change to ``training_free_tuner.json`` in NNI's checkpoint folder
(``$NNI_CHECKPOINT_DIRECTORY``, i.e. ``<experiment>/checkpoint``) or in
``checkpoint_dir``; ``nnictl resume`` makes NNI call :meth:`load_checkpoint`,
which restores it, and NNI's replay of finished trials through
:meth:`import_data` is merged without double counting.

NNI gives its tuner process 10 seconds to connect. Inside that process
(``SDK_PROCESS=dispatcher``) the tuner therefore loads torch and the
indicators in a background thread; a bad class argument then surfaces at the
first command, in the experiment's ``dispatcher.log``. Elsewhere construction
validates everything at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nni
import numpy as np
from nni.tuner import Tuner
from nni.utils import extract_scalar_reward

from tenas_automl._compat import renamed
from tenas_automl._io import atomic_write_text
from tenas_automl.errors import TenasError, check_choice
from tenas_automl.integrations.nni._tuner_search import (
    OPTIMIZE_MODES,
    SCORING_PRESETS,
    STRATEGIES,
    ParamChoices,
    SpaceCodec,
    TrialRecord,
    TunerSearch,
    positive,
)
from tenas_automl.integrations.nni.config import Choices, choices_for, parse_search_space
from tenas_automl.spaces.params import ParamSpace, from_nni_search_space

if TYPE_CHECKING:
    from tenas_automl.spaces import Space

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "training_free_tuner.json"


class TrainingFreeTuner(TunerSearch, Tuner):
    """NNI tuner proposing architectures ranked by training-free indicators.

    Args:
        space: ``"nb201"`` (default) or ``"darts"``; the search space must match it.
        strategy: ``"evolution"`` (metric-driven aging evolution whose children
            are filtered by indicators) or ``"random"`` (best of ``candidates``
            random architectures by indicators).
        indicators: indicator names (default ``ntk, lr``; ``naswot`` with ``model_fn``); their rank
            sum (TE-NAS) orders candidates. A combination
            (``ensemble``, ``az``) is scored by its members and orders them by its log-rank sum.
        seed: seeds proposals and the indicators' weights and batches.
        population_size: size of the initial indicator-scored pool and of the aging
            window of finished trials that parents are drawn from.
        candidates: architectures scored per proposal.
        tournament_size: parents' tournament size (default ``max(2, population_size // 4)``).
            ``population`` and ``tournament`` are their former names.
        optimize_mode: whether a higher (``"maximize"``) or lower reported metric is better.
        scoring: indicator settings preset, ``"fast"`` or ``"paper"`` (:data:`SCORING_PRESETS`).
        mode: ``"paper"`` or ``"clean"`` indicator behaviour (see :func:`tenas_automl.indicators.evaluate`).
        device: where indicators run (``"cpu"``: the GPUs are the trials').
        overrides: per-indicator settings on top of the preset, e.g. ``{"ntk": {"batch_size": 32}}``.
        dataset, data_dir: images the indicators see (default: the bundled CIFAR-10 sample).
        checkpoint_dir: where the state file goes (default: NNI's checkpoint folder).
        model_fn: instead of a space, ``params -> nn.Module`` for any flat NNI search space: a
            callable, or ``"MODULE:NAME"`` / ``"FILE.py:NAME"`` (YAML). Default indicator ``naswot``;
            a candidate that cannot be built or scored ranks last.
        threads: torch CPU threads for scoring (``torch.set_num_threads``; None
            leaves torch's default). One by default: the tuner shares the
            manager's machine with local trials, and idle OpenMP workers of the
            dispatcher's threads otherwise spin on the cores the trials need.
    """

    def __init__(
        self,
        space: str | None = None,
        strategy: str = "evolution",
        indicators: Sequence[str] | str | None = None,
        seed: int = 0,
        population_size: int | None = None,
        candidates: int = 8,
        tournament_size: int | None = None,
        optimize_mode: str = "maximize",
        scoring: str = "fast",
        mode: str = "paper",
        device: str = "cpu",
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        dataset: str = "cifar10",
        data_dir: str | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        threads: int | None = 1,
        model_fn: str | Callable[[dict[str, Any]], Any] | None = None,
        population: int | None = None,
        tournament: int | None = None,
    ) -> None:
        super().__init__()
        if model_fn is not None and space is not None:
            raise TenasError(f"TrainingFreeTuner takes a space ({space!r}) or a model_fn, not both")
        self._model_fn_given = model_fn
        self.model_fn = None
        if model_fn is None:
            self.space_name = "nb201" if space is None else str(space)
        else:
            self.space_name = "model_fn:" + (model_fn if isinstance(model_fn, str) else _qualname(model_fn))
        if indicators is None:
            indicators = ("ntk", "lr") if model_fn is None else ("naswot",)
        self.strategy = check_choice("tuner strategy", strategy, STRATEGIES)
        self.optimize_mode = check_choice("optimize_mode", optimize_mode, OPTIMIZE_MODES)
        self.scoring = check_choice("scoring preset", scoring, SCORING_PRESETS)
        if isinstance(indicators, str):
            indicators = [s.strip() for s in indicators.split(",") if s.strip()]
        self.indicators = tuple(indicators)
        if not self.indicators:
            raise TenasError("indicators is empty; give at least one, e.g. [ntk, lr]")
        population_size = renamed("TrainingFreeTuner", "population_size", population_size, "population", population, 16)
        tournament_size = renamed("TrainingFreeTuner", "tournament_size", tournament_size, "tournament", tournament, None)
        self.population_size = positive("population_size", population_size)
        self.candidates = positive("candidates", candidates)
        self.tournament_size = (
            max(2, self.population_size // 4) if tournament_size is None else positive("tournament_size", tournament_size)
        )
        self.seed = int(seed)
        self.mode, self.device, self.dataset, self.data_dir = mode, device, dataset, data_dir
        self._given_overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.threads = None if threads is None else positive("threads", threads)

        self.rng = np.random.default_rng(self.seed)
        #: Indicator values by architecture string.
        self.scores: dict[str, dict[str, float]] = {}
        #: Finished trials, in the order their results arrived.
        self.results: list[TrialRecord] = []
        #: Trials in flight since the tuner started (or resumed), by NNI parameter id.
        self.pending: dict[int, TrialRecord] = {}
        #: Dedup keys of every architecture ever proposed or reported.
        self.tried: set[str] = set()
        #: The indicator-scored pool used before any metric arrives (arch strings).
        self.pool: list[str] = []
        #: Trials since the tuner started (or resumed) that ended before their metric arrived.
        self._ended: dict[int, TrialRecord] = {}
        # NNI calls trial_end from another thread than the other methods.
        self._lock = threading.RLock()
        self._setup_error: BaseException | None = None
        self._setup_thread: threading.Thread | None = None
        if os.environ.get("SDK_PROCESS") == "dispatcher":
            self._setup_thread = threading.Thread(target=self._setup_guarded, name="tenas-setup", daemon=True)
            self._setup_thread.start()
        else:
            self._setup()

    def _setup(self) -> None:
        """Load the space and the indicators (torch) and validate what depends on them."""
        from tenas_automl.config import ScoringConfig
        from tenas_automl.indicators.runner import resolve_indicators
        from tenas_automl.spaces import SPACES, get_space

        if self._model_fn_given is None:
            self.space: Space | ParamSpace = get_space(check_choice("space", self.space_name, SPACES))
            self.codec: SpaceCodec | ParamSpace = SpaceCodec(self.space)
            self.choices: Choices | ParamChoices = Choices(choices_for(self.space))
        given = ScoringConfig(
            self.indicators, seed=self.seed, device=self.device, dataset=self.dataset, data_dir=self.data_dir,
            mode=self.mode, overrides=self._given_overrides,
        )  # fmt: skip
        given.check_overrides_apply()
        preset = SCORING_PRESETS[self.scoring]
        #: How proposals are scored: the given settings on top of the scoring preset's.
        self.config = given.replace(overrides={n: {**preset.get(n, {}), **given.overrides.get(n, {})} for n in given.members})
        self.indicators, self.combinations = self.config.members, self.config.combinations
        self.overrides = {k: dict(v) for k, v in self.config.overrides.items()}
        self.higher_is_better = self.config.higher_is_better
        self._indicator_objs = resolve_indicators(self.indicators, self.overrides)
        #: Identifies how indicator values were computed (checkpointed values are reused only if equal).
        self.settings_key = json.dumps([self.space_name, self.config.cache_key()])
        if self._model_fn_given is not None:
            self.model_fn = self._load_model_fn()

    def _load_model_fn(self) -> Callable[[dict[str, Any]], Any]:
        from tenas_automl._loading import load_callable
        from tenas_automl.model_scoring import check_model_indicators

        given = self._model_fn_given
        fn = load_callable(given, "model_fn") if isinstance(given, str) else given
        if not callable(fn):
            raise TenasError(f"model_fn must be a callable params -> nn.Module or 'MODULE:NAME', got {type(fn).__name__}")
        check_model_indicators(self.config.members)
        return fn  # type: ignore[no-any-return]

    def _setup_guarded(self) -> None:
        try:
            self._setup()
        except BaseException as exc:  # re-raised by _ready() in NNI's command thread
            self._setup_error = exc

    def _ready(self) -> None:
        if self._setup_thread is not None:
            self._setup_thread.join()
        if self._setup_error is not None:
            raise self._setup_error

    # -- NNI's Tuner interface ---------------------------------------------------
    def update_search_space(self, search_space: Mapping[str, Any]) -> None:
        """Validate ``search_space`` (see :mod:`~tenas_automl.integrations.nni.config`) and restrict proposals to it."""
        self._ready()
        with self._lock:
            if self.model_fn is None:
                self.choices = Choices(parse_search_space(search_space, self.space))  # type: ignore[arg-type]
            else:  # the user's parameters: any flat NNI search space
                self.space = self.codec = from_nni_search_space(search_space)
                self.choices = ParamChoices(self.space)
        logger.info("search space of %s with %d keys accepted", self.space_name, len(search_space))

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        """Propose the next architecture's parameters (raises ``nni.NoMoreTrialError`` when none is left)."""
        self._ready()
        if not hasattr(self, "space"):
            raise TenasError("with model_fn the tuner needs NNI's search space first (update_search_space)")
        with self._lock:
            arch = self._propose()
            record = TrialRecord(self.space.format(arch), self.codec.params(arch), parameter_id=parameter_id)
            self.pending[parameter_id] = record
            self.tried.add(self._key(arch))
            self._save()
        logger.info("trial %s: proposing %s", parameter_id, record.arch)
        return dict(record.params)

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        """One distinct proposal per id; fewer when the space runs out (as NNI expects)."""
        out: list[dict[str, Any]] = []
        for parameter_id in parameter_id_list:
            try:
                out.append(self.generate_parameters(parameter_id, **kwargs))
            except nni.NoMoreTrialError:
                break
        return out

    def receive_trial_result(self, parameter_id: int, parameters: Mapping[str, Any], value: Any, **kwargs: Any) -> None:
        """Record a trial's final metric (a number, or a dict with ``"default"``)."""
        self._ready()
        try:
            metric = float(extract_scalar_reward(value))
        except (RuntimeError, TypeError, ValueError):
            logger.error("trial %s reported %r, not a number nor a dict with 'default'", parameter_id, value)
            metric = math.nan
        logger.info("trial %s reported %s", parameter_id, metric)
        with self._lock:
            record = self.pending.pop(parameter_id, None)
            if record is not None:
                self.results.append(record)
            elif parameter_id in self._ended:  # its end event came first; it is in results already
                record = self._ended.pop(parameter_id)
            else:  # a customised trial
                try:
                    arch = self.codec.arch(parameters)
                except ValueError as exc:
                    logger.warning("ignoring the result of trial %s: %s", parameter_id, exc)
                    return
                record = TrialRecord(self.space.format(arch), dict(parameters), parameter_id=parameter_id)
                self.tried.add(self._key(arch))
                self.results.append(record)
            record.metric, record.status = metric, "succeeded" if math.isfinite(metric) else "failed"
            record.trial_job_id = kwargs.get("trial_job_id") or record.trial_job_id
            self._save()

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A trial ended; one that ended without a result stays in the results without a metric."""
        with self._lock:
            record = self.pending.pop(parameter_id, None)
            if record is not None:
                # NNI may deliver the final metric after this; receive_trial_result then fills it in.
                record.status = "succeeded" if success else "failed"
                self._ended[parameter_id] = record
                self.results.append(record)
                self._save()

    def import_data(self, data: Iterable[Mapping[str, Any]]) -> None:
        """Learn finished trials: ``[{"parameter": params, "value": metric, "trialJobId": ...}]``.

        NNI sends this on ``nnictl resume`` (every finished trial) and for
        ``nnictl experiment import``. Entries already known (same trial job id,
        or same architecture and metric) are skipped, and so, with a warning,
        are entries that are not architectures of the space.
        """
        self._ready()
        with self._lock:
            known_jobs = {r.trial_job_id for r in self.results if r.trial_job_id}
            known = {(r.arch, r.metric) for r in self.results}
            added = 0
            for entry in data:
                try:
                    arch = self.codec.arch(entry["parameter"])
                    metric = float(extract_scalar_reward(entry["value"]))
                except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                    logger.warning("import_data: skipping %r (%s)", entry, exc)
                    continue
                arch_str, job = self.space.format(arch), entry.get("trialJobId")
                if (job and job in known_jobs) or (arch_str, metric) in known:
                    continue
                status = "succeeded" if math.isfinite(metric) else "failed"
                params = self.codec.params(arch)
                self.results.append(TrialRecord(arch_str, params, metric, status, None, job))
                self.tried.add(self._key(arch))
                known.add((arch_str, metric))
                added += 1
            self._save()
        logger.info("import_data: %d new finished trials", added)

    def save_checkpoint(self) -> None:
        """Write the state file (the tuner also does this after every change)."""
        with self._lock:
            self._save()

    def load_checkpoint(self) -> None:
        """Restore the state file written by an earlier run of this experiment, if any."""
        self._ready()
        path = self._checkpoint_file()
        if path is None or not path.is_file():
            logger.info("no tuner checkpoint to load (%s)", path)
            return
        with self._lock:
            self.load_state(json.loads(path.read_text("utf-8")))
        logger.info("restored %d results and %d tried architectures from %s", len(self.results), len(self.tried), path)

    # -- persistence -----------------------------------------------------------------
    def _checkpoint_file(self) -> Path | None:
        folder = self.checkpoint_dir or (Path(p) if (p := self.get_checkpoint_path()) else None)
        return folder / CHECKPOINT_FILE if folder is not None else None

    def _save(self) -> None:
        path = self._checkpoint_file()
        if path is None:
            return
        try:
            atomic_write_text(path, json.dumps(self.state_dict(), indent=1, allow_nan=False) + "\n")
        except OSError as exc:  # losing a checkpoint must not stop the experiment
            logger.warning("could not write the tuner checkpoint %s: %s", path, exc)


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"


__all__ = ["CHECKPOINT_FILE", "SCORING_PRESETS", "STRATEGIES", "TrainingFreeTuner", "TrialRecord"]
