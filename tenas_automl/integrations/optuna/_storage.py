"""Opening an Optuna storage that many worker processes share, and keeping dead workers' trials from hanging.

:func:`open_storage` takes what a user types after ``--storage``:

- an RDB URL: ``sqlite:///study.db``, ``postgresql+psycopg://user@host/db``
  (``postgresql://`` means psycopg 3 when it is the driver installed), MySQL;
- ``journal:PATH``: Optuna's :class:`~optuna.storages.JournalStorage` on a
  file, for clusters with a shared disk and no database server.

Workers that start at the same moment on a new database race to create
Optuna's tables; PostgreSQL then rejects all but one with a unique-key
violation. Opening retries a few times, by which time the tables exist.

Both kinds record a heartbeat of every running trial (every
``heartbeat_interval`` seconds). A trial whose heartbeat is older than
``grace_period`` seconds belongs to a dead worker (SIGKILL, a lost node): the
next trial that any worker starts fails it, and
:class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` queues its parameters again
(up to ``max_retry`` times), so its architecture is still measured. RDB
storages use Optuna's own heartbeat (database server time); the journal file
has none in Optuna, so :class:`HeartbeatJournalStorage` adds one on the same
protocol, stamped with the workers' clocks (keep them synchronised, e.g. NTP,
within a fraction of the grace period).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat, get_heartbeat_thread, is_heartbeat_enabled
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from tenas_automl.errors import TenasError, first_line

logger = logging.getLogger(__name__)

#: Default seconds between two heartbeats of a running trial.
HEARTBEAT_INTERVAL_S = 10
#: Default seconds without a heartbeat after which a running trial counts as dead.
GRACE_PERIOD_S = 30
#: Default number of times a dead worker's trial is queued again.
MAX_RETRY = 3
JOURNAL_PREFIX = "journal:"
_HEARTBEAT_ATTR = "tenas:heartbeat"
_OPEN_ATTEMPTS = 8


def describe_storage(url: str) -> str:
    """``url`` as it may appear in messages and logs: a password is hidden."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: say it as typed, minus anything between ':' and '@'
        head, sep, tail = url.rpartition("@")
        if not sep or ":" not in head.split("://", 1)[-1]:
            return url
        scheme, _, creds = head.partition("://")
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{tail}"


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A :class:`~optuna.storages.JournalStorage` with Optuna's heartbeat protocol.

    A running trial's heartbeat is a trial system attribute holding the time
    (seconds since the epoch, by the worker's clock) of its last beat; Optuna's
    optimisation loop writes it from its heartbeat thread and fails stale trials
    before each new one, exactly as for an RDB storage.
    """

    def __init__(
        self,
        backend: Any,
        *,
        heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
        grace_period: int | None = GRACE_PERIOD_S,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        super().__init__(backend)
        self._interval = heartbeat_interval
        self._grace = grace_period if grace_period is not None else (2 * heartbeat_interval if heartbeat_interval else None)
        self._stale_callback = heartbeat_stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, _HEARTBEAT_ATTR, time.time())
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # finished between two beats

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if self._grace is None:
            return []
        oldest = time.time() - self._grace
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            beat = t.system_attrs.get(_HEARTBEAT_ATTR)
            # As in Optuna's RDB storage: a trial that never beat is not judged.
            if isinstance(beat, (int, float)) and beat < oldest:
                stale.append(t._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self._interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_callback


def default_grace_period(heartbeat_interval: int) -> int:
    """The grace period for ``heartbeat_interval``: :data:`GRACE_PERIOD_S`, or three beats when they are sparser."""
    return max(GRACE_PERIOD_S, 3 * heartbeat_interval)


def _check_heartbeat(heartbeat_interval: int | None, grace_period: int | None, max_retry: int | None) -> None:
    for name, value, low, what in (
        ("heartbeat_interval", heartbeat_interval, 1, "a positive number of seconds"),
        ("grace_period", grace_period, 1, "a positive number of seconds"),
        ("max_retry", max_retry, 0, "a non-negative integer"),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise TenasError(f"{name} must be {what} (an integer) or None, got {value!r}")
    if heartbeat_interval is not None and grace_period is not None and grace_period <= heartbeat_interval:
        raise TenasError(
            f"the heartbeat grace period ({grace_period} s) must be longer than its interval ({heartbeat_interval} s), "
            "or every live trial would look dead"
        )


def _retry_callback(max_retry: int | None) -> Callable[[optuna.Study, FrozenTrial], None]:
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def _is_creation_race(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in ("IntegrityError", "UniqueViolation", "already exists", "duplicate key", "DuplicateTable"))


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # SQLAlchemy's plain postgresql:// means psycopg2; the postgres extra installs psycopg 3.
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _hint(url: str, exc: BaseException) -> str:
    text = str(exc)
    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///") :]).parent
        if not folder.is_dir():
            return f" (folder {str(folder)!r} does not exist)"
    if "psycopg" in text and ("No module named" in text or isinstance(exc, ModuleNotFoundError)):
        return " (install the driver: pip install 'tenas-automl[postgres]')"
    return ""


def open_storage(
    storage: str | BaseStorage | None,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = GRACE_PERIOD_S,
    max_retry: int | None = MAX_RETRY,
) -> BaseStorage | None:
    """``storage`` opened for many workers, or a TenasError naming it (password hidden) and why not.

    Args:
        storage: an RDB URL, ``journal:PATH``, a storage object (returned as
            it is) or None (None: an in-memory study).
        heartbeat_interval: seconds between heartbeats of a running trial;
            None turns the heartbeat (and the failing of dead workers' trials) off.
        grace_period: seconds without heartbeat after which a running trial is
            failed by the next trial any worker starts; longer than the interval.
        max_retry: how many times a dead worker's trial is queued again
            (0: failed, not retried).
    """
    if not isinstance(storage, str):
        return storage
    _check_heartbeat(heartbeat_interval, grace_period, max_retry)
    retry = None if heartbeat_interval is None else _retry_callback(max_retry)
    shown = describe_storage(storage)
    if storage.startswith(JOURNAL_PREFIX):
        path = Path(storage[len(JOURNAL_PREFIX) :]).expanduser()
        if not str(path) or str(path) == ".":
            raise TenasError(f"cannot open the Optuna storage {storage!r}: expected journal:PATH, the journal file")
        if not path.parent.is_dir():
            raise TenasError(f"cannot open the Optuna storage {storage!r}: folder {str(path.parent)!r} does not exist")
        try:
            return HeartbeatJournalStorage(
                JournalFileBackend(str(path)), heartbeat_interval=heartbeat_interval,
                grace_period=grace_period if heartbeat_interval is not None else None,
                heartbeat_stale_trial_callback=retry,
            )  # fmt: skip
        except Exception as exc:  # a file that is not a journal, no permission, ...
            raise TenasError(f"cannot open the Optuna storage {storage!r}: {first_line(exc)}") from None
    if "://" not in storage:
        raise TenasError(
            f"cannot open the Optuna storage {storage!r}: expected a database URL such as sqlite:///study.db "
            "or postgresql+psycopg://user@host/db, or journal:PATH"
        )
    url = _normalise_url(storage)
    kwargs: dict[str, Any] = {}
    if heartbeat_interval is not None:
        kwargs = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period, "heartbeat_stale_trial_callback": retry}
    # A server restarted under a running worker leaves dead pooled connections: test each before use.
    engine = {} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat arguments
                return RDBStorage(url, engine_kwargs=engine, **kwargs)
        except Exception as exc:  # SQLAlchemy's errors for URLs, drivers, servers have no common base here
            if _is_creation_race(exc) and attempt < _OPEN_ATTEMPTS - 1:
                logger.debug("another worker is creating the tables of %s; retrying", shown)
                time.sleep(random.uniform(0.1, 0.5) * (attempt + 1))
                continue
            raise TenasError(f"cannot open the Optuna storage {shown!r}: {first_line(exc)}{_hint(url, exc)}") from None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def beating(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat while the sampler works inside ``study.ask()``.

    Optuna starts its heartbeat thread only once ``ask`` has returned, but a
    training-free sampler scores its candidates inside ``ask`` (and the prune
    sampler's first trial runs a whole pruning search there): without beats, a
    worker killed then would leave its trial running for good.
    """
    if not is_heartbeat_enabled(study._storage):
        yield
        return
    with get_heartbeat_thread(trial_id, study._storage):
        yield
    study._storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]  # a fresh beat covers the hand-over


class StaleTrialError(TenasError):
    """This worker's trial was failed as stale by another worker while this one was still working on it.

    It happens when a live worker's heartbeat lapses for longer than the grace
    period (an overloaded machine, a long pause); the other worker has queued
    the trial's architecture again, so this one can go on with a new trial.
    """

    def __init__(self, number: int) -> None:
        super().__init__(
            f"trial {number} was failed as stale by another worker while this one was still running it "
            "(its heartbeat lapsed for longer than the grace period; a longer --grace avoids it); "
            "its architecture is queued again"
        )
        self.number = number


def failed_under_us(study: optuna.Study, trial_id: int | None) -> bool:
    """Whether the trial this worker is running was set to FAIL by someone else."""
    if trial_id is None:
        return False
    return study._storage.get_trial(trial_id).state == optuna.trial.TrialState.FAIL


@contextlib.contextmanager
def quiet_heartbeat_errors() -> Iterator[None]:
    """Log, instead of printing a traceback, the error of a heartbeat thread that lost the storage.

    The optimisation loop meets the same lost storage and reports it; the
    heartbeat thread's own traceback would only bury that message.
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is not None and "_record_heartbeat" in args.thread.name:
            logger.debug("a heartbeat could not be recorded: %s", args.exc_value)
            return
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


__all__ = [
    "GRACE_PERIOD_S",
    "HEARTBEAT_INTERVAL_S",
    "JOURNAL_PREFIX",
    "MAX_RETRY",
    "HeartbeatJournalStorage",
    "StaleTrialError",
    "beating",
    "default_grace_period",
    "describe_storage",
    "failed_under_us",
    "open_storage",
    "quiet_heartbeat_errors",
]
