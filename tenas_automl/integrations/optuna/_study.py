"""``run_optuna_study``: an Optuna study whose objective is the NB201 benchmark accuracy.

This is what ``tenas-automl run --engine optuna`` runs. With a storage URL
(``sqlite:///study.db``) the study is created once and resumed afterwards:
``trials`` is the total the study should reach, so re-running the same
command after an interruption finishes the remaining trials only. Several
processes may run it at once on the same storage; each stops once the study
has ``trials`` completed (or pruned) trials (trials already running elsewhere still
finish, so the total may exceed ``trials`` by up to the number of processes
minus one).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

from tenas_automl._compat import renamed
from tenas_automl.errors import BenchmarkError, TenasError, check_choice, first_line
from tenas_automl.integrations.optuna._once import run_once
from tenas_automl.integrations.optuna._params import get_codec, suggest_architecture
from tenas_automl.integrations.optuna._sampler import TrainingFreeSampler
from tenas_automl.integrations.optuna._scores import ATTR_PREFIX, SETTINGS_ATTR
from tenas_automl.integrations.optuna._storage import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    MAX_RETRY,
    StaleTrialError,
    describe_storage,
    failed_under_us,
    open_storage,
    quiet_heartbeat_errors,
)
from tenas_automl.scoring import ProgressFn
from tenas_automl.spaces import Space, resolve_space

logger = logging.getLogger(__name__)

#: ``sampler_strategy`` values: the two training-free strategies and two Optuna baselines.
STUDY_STRATEGIES = ("evolution", "prune", "random", "tpe")
_CONFIG_ATTR = "tenas:run"
# Failed trials (an objective error, a Ctrl-C) do not count: a rerun replaces them.
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def benchmark_objective(space: Space, dataset: str = "cifar10") -> Callable[[optuna.Trial], float]:
    """An objective that suggests an architecture and returns its benchmark test accuracy (%)."""

    def objective(trial: optuna.Trial) -> float:
        arch = suggest_architecture(trial, space)
        accuracy = space.benchmark_accuracy(arch, dataset)
        if accuracy is None:
            raise BenchmarkError(f"space {space.name!r} has no benchmark accuracy for {dataset!r}")
        return float(accuracy)

    return objective


def _check_benchmark(space: Space, dataset: str) -> None:
    if dataset not in space.benchmark_datasets:
        raise TenasError(f"the optuna engine optimises benchmark accuracy, and space {space.name!r} has none; use --space nb201")


def make_sampler(
    space: Space,
    strategy: str,
    *,
    indicators: Sequence[str],
    seed: int,
    dataset: str = "cifar10",
    data_dir: str | None = None,
    device: str = "auto",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    candidates: int | None = None,
    mode: str = "paper",
    progress: ProgressFn | None = None,
    candidates_per_trial: int | None = None,
    indicator_seed: int | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
) -> BaseSampler:
    """The sampler ``run_optuna_study`` uses for ``strategy`` (one of :data:`STUDY_STRATEGIES`).

    ``seed`` seeds the proposals, and the indicators unless ``indicator_seed`` is given.
    """
    check_choice("optuna sampler strategy", strategy, STUDY_STRATEGIES)
    candidates = renamed("make_sampler", "candidates", candidates, "candidates_per_trial", candidates_per_trial, None)
    if strategy == "random":
        return RandomSampler(seed=seed)
    if strategy == "tpe":
        return TPESampler(seed=seed)
    # None keeps TrainingFreeSampler's own default (one source for it).
    extra = {} if candidates is None else {"candidates": candidates}
    return TrainingFreeSampler(
        space, strategy, indicators, seed=seed, dataset=dataset, data_dir=data_dir, device=device,
        overrides=overrides, mode=mode, progress=progress, indicator_seed=indicator_seed, cache_dir=cache_dir,
        use_cache=use_cache, **extra,
    )  # fmt: skip


def preset_overrides(
    space: Space,
    strategy: str,
    indicators: Sequence[str],
    preset: str | None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]] | None:
    """The indicator overrides of ``preset`` for the prune sampler, with ``overrides`` on top."""
    merged = {k: dict(v) for k, v in (overrides or {}).items()}
    if preset is None:
        return merged or None
    from tenas_automl.strategies.prune import preset_settings

    settings = preset_settings(preset, space.name, indicators)  # checks the name first
    if strategy != "prune":
        raise TenasError(f"preset {preset!r} applies to the prune sampler strategy, not {strategy!r}")
    for name, values in settings.items():
        merged[name] = {**values, **merged.get(name, {})}
    return merged or None


def run_optuna_study(
    space: Space | str,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    trials: int = 50,
    sampler_strategy: str = "evolution",
    indicators: Sequence[str] = ("ntk", "lr"),
    seed: int = 0,
    dataset: str = "cifar10",
    device: str = "auto",
    progress: ProgressFn | None = None,
    data_dir: str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    candidates: int | None = None,
    mode: str = "paper",
    preset: str | None = None,
    candidates_per_trial: int | None = None,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = GRACE_PERIOD_S,
    max_retry: int | None = MAX_RETRY,
    cache_dir: str | None = None,
    use_cache: bool = True,
) -> optuna.Study:
    """Search ``space`` with Optuna, maximising the NB201 benchmark test accuracy on ``dataset``.

    Args:
        space: the space (object or name); it needs a benchmark (NB201).
        storage: an Optuna storage, an RDB URL (``sqlite:///study.db``,
            ``postgresql+psycopg://user@host/db``) or ``journal:PATH``; None
            keeps the study in memory. See :func:`open_storage`.
        study_name: default ``tenas-{space}-{strategy}-{dataset}-seed{seed}``,
            so that the same command resumes the same study. Workers that
            share a study name it explicitly, each with its own ``seed``.
        trials: the number of completed (or pruned) trials the study should
            have; an existing study only runs the difference
            (``load_if_exists``). Failed trials, such as one interrupted by
            Ctrl-C, do not count, so rerunning the command replaces them.
        sampler_strategy: ``evolution`` / ``prune`` (:class:`TrainingFreeSampler`),
            ``random`` or ``tpe`` (Optuna's samplers, as baselines).
        seed: the seed of this process's proposals; the indicators are
            scored with the seed of the study's first process, so that every
            worker reuses the scores stored by the others.
        indicators, dataset, device, data_dir, overrides, mode,
            candidates: the sampler's settings (``dataset`` is also the benchmark
            column and the indicators' data; ``candidates`` was ``candidates_per_trial``).
        preset: ``prune`` only: the indicator settings of a pruning preset
            (:data:`tenas_automl.strategies.PRUNE_PRESETS`) for the pruning
            run and the screening of its neighbours; ``overrides`` win.
            ``"fast"`` (NTK on 32 images) is the benchmarked recipe
            (``benchmarks/README.md``).
        progress: ``progress(done, total, info)`` after each trial, and during
            the prune sampler's one-off pruning run inside the first trial
            (``info`` ``"TE-NAS pruning 24/54 round 1"`` ...).
        cache_dir, use_cache: the sampler's on-disk score cache (default
            folder: :func:`tenas_automl.score_cache.default_cache_dir`); workers
            on several machines may share one on a shared disk, besides the
            scores they share through the study.
        heartbeat_interval, grace_period, max_retry: the failing and
            retrying of a dead worker's trials (:func:`open_storage`; RDB and
            journal storages given by URL).

    Raises:
        TenasError: a space without benchmark, a bad setting, an existing
            study created with other settings, or a storage that cannot be
            opened or is lost during the run (its URL named, password hidden;
            the trials finished before are kept and the same call resumes).
    """
    space = resolve_space(space)
    check_choice("optuna sampler strategy", sampler_strategy, STUDY_STRATEGIES)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise TenasError(f"trials must be a positive integer, got {trials!r}")
    _check_benchmark(space, dataset)
    candidates = renamed("run_optuna_study", "candidates", candidates, "candidates_per_trial", candidates_per_trial, None)
    overrides = preset_overrides(space, sampler_strategy, indicators, preset, overrides)
    name = study_name or f"tenas-{space.name}-{sampler_strategy}-{dataset}-seed{seed}"
    done = 0
    pruning = None
    if progress is not None:
        from tenas_automl.strategies.prune import pruning_progress

        # The prune sampler's one-off TE-NAS run takes minutes inside a trial: show it on the same bar.
        pruning = pruning_progress(lambda text: progress(min(done, trials), trials, text))
    try:
        study = optuna.create_study(
            storage=open_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                                 max_retry=max_retry),
            study_name=name, sampler=RandomSampler(seed=seed), direction="maximize", load_if_exists=True,
        )  # fmt: skip
    except TenasError:
        raise
    except Exception as exc:
        raise _storage_error(storage, exc, "cannot create or load the study in") from None
    if study._is_multi_objective() or study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise TenasError(f"study {name!r} exists and does not maximise one objective; choose another study name")
    config = {
        "space": space.name,
        "strategy": sampler_strategy,
        "dataset": dataset,
        "seed": int(seed),
        "indicators": list(indicators) if sampler_strategy in ("evolution", "prune") else [],
    }
    if overrides and sampler_strategy in ("evolution", "prune"):
        # Only when set, so studies created without overrides still resume.
        config["overrides"] = {k: dict(v) for k, v in overrides.items()}
    # The first worker's settings become the study's; of workers starting together one writes them.
    stored = run_once(study, _CONFIG_ATTR, lambda: config, lambda doc: isinstance(doc, Mapping), tag=config, poll=0.2)
    if _identity(stored) != _identity(config):
        raise TenasError(
            f"study {name!r} in this storage was created with {stored}, not {config}; use another study name or the same settings"
        )
    # Proposals follow this worker's seed; scores the study's, so each worker reuses the others' scores.
    study.sampler = make_sampler(
        space, sampler_strategy, indicators=indicators, seed=seed, dataset=dataset, data_dir=data_dir,
        device=device, overrides=overrides, candidates=candidates, mode=mode, progress=pruning,
        indicator_seed=int(stored.get("seed", seed)), cache_dir=cache_dir, use_cache=use_cache,
    )  # fmt: skip
    done = len(study.get_trials(deepcopy=False, states=_FINISHED))
    remaining = max(0, trials - done)
    logger.info("study %r: %d trials finished, running %d more", name, done, remaining)

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress is None:
            return
        n = len(study.get_trials(deepcopy=False, states=_FINISHED))
        try:
            info = f"best {study.best_value:.2f}"
        except ValueError:
            info = ""
        progress(min(n, trials), trials, info)

    if progress is not None:
        progress(min(done, trials), trials, "")
    # Stop at the total even when other processes run trials of the same study.
    stop = optuna.study.MaxTrialsCallback(trials, states=_FINISHED)
    objective = _Tracked(benchmark_objective(space, dataset))
    while remaining:
        try:
            with quiet_heartbeat_errors():
                study.optimize(objective, n_trials=remaining, callbacks=[report, stop])
            break
        except Exception as exc:
            stale = objective.stale_trial(study, exc)
            if stale is not None:
                logger.warning("%s; this worker goes on", stale)
                remaining = max(0, trials - len(study.get_trials(deepcopy=False, states=_FINISHED)))
                continue
            cause = _storage_failure(exc)
            if cause is None:
                raise
            raise _storage_error(storage, cause, "lost the connection to") from None
    return study


class _Tracked:
    """The objective, remembering how its last trial ended: to tell a stale trial from an error."""

    def __init__(self, objective: Callable[[optuna.Trial], float]) -> None:
        self.objective = objective
        self.trial_id: int | None = None
        self.number = -1
        self.returned = False
        self.stale: StaleTrialError | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.trial_id, self.number, self.returned, self.stale = trial._trial_id, trial.number, False, None
        try:
            value = self.objective(trial)
        except StaleTrialError as exc:  # the sampler's, from the first suggest call
            self.stale = exc
            raise
        self.returned = True
        return value

    def stale_trial(self, study: optuna.Study, exc: Exception) -> StaleTrialError | None:
        """Whether ``exc`` means this worker's trial was failed as stale under it: raised in ask() or by the
        sampler inside the objective (Optuna then refuses to tell the trial), or the trial was failed while
        the objective ran. What is known of the last trial is forgotten, so a later error is judged alone."""
        stale = exc if isinstance(exc, StaleTrialError) else self.stale
        if stale is None and self.returned and failed_under_us(study, self.trial_id):
            stale = StaleTrialError(self.number)
        self.trial_id, self.returned, self.stale = None, False, None
        return stale


def _identity(config: Mapping[str, Any]) -> dict[str, Any]:
    # The seed is each worker's own; the rest must agree for workers to share a study.
    return {k: v for k, v in config.items() if k != "seed"}


def _storage_failure(exc: BaseException | None) -> BaseException | None:
    """The storage's error in ``exc``'s chain (Optuna may raise another error while handling it), or None."""
    seen = 0
    while exc is not None and seen < 10:
        if type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "psycopg2", "sqlite3"):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _storage_error(storage: object, exc: BaseException, what: str) -> TenasError:
    shown = describe_storage(storage) if isinstance(storage, str) else type(storage).__name__
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    return TenasError(
        f"{what} the Optuna storage {shown!r}: {first_line(orig)}; the trials finished so far are kept there, "
        "and the same command resumes the study once the storage is back"
    )


def summarize_study(study: optuna.Study, space: Space | str) -> dict[str, Any]:
    """The best trial as the ``run`` result fields: ``arch``, ``indicators``, ``benchmark``, ``evaluations``."""
    space = resolve_space(space)
    best = study.best_trial
    arch: Hashable = get_codec(space).arch(best.params)
    keys = best.user_attrs.get(SETTINGS_ATTR) or {}
    values = {}
    for n in keys:
        v = best.user_attrs.get(f"{ATTR_PREFIX}{n}")
        values[n] = math.nan if v is None else float(v)
    benchmark: dict[str, float] | None = None
    if space.benchmark_datasets:
        benchmark = {d: float(space.benchmark_accuracy(arch, d)) for d in space.benchmark_datasets}
    return {
        "arch": space.format(arch),
        "indicators": values,
        "benchmark": benchmark,
        "evaluations": len(study.get_trials(deepcopy=False, states=_FINISHED)),
        "best_trial": best.number,
        "study_name": study.study_name,
    }


__all__ = [
    "STUDY_STRATEGIES",
    "benchmark_objective",
    "make_sampler",
    "open_storage",
    "run_optuna_study",
    "summarize_study",
]
