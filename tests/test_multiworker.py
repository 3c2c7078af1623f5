"""Many workers on one Optuna study: a real PostgreSQL server, a journal file, dead workers, a lost server.

The server is the one ``.ci/run`` started (``TENAS_TEST_POSTGRES_URL``), or one
these tests start and stop (``tests/_postgres.py``); where none can be
started the PostgreSQL tests are skipped saying why, except under
``TENAS_REQUIRE_POSTGRES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tenas_automl import get_space
from tenas_automl.integrations.optuna import architecture_params

sys.path.insert(0, str(Path(__file__).parent))
import _postgres  # noqa: E402

HERE = Path(__file__).parent
ORIGIN, ARCH = "tenas:origin", "tenas:arch"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TENAS_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "COLUMNS": "80"}


def _cli(*args: str, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tenas_automl.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip


def _worker(storage: str, study: str, seed: int, trials: int, *, tmp_path: Path, extra: tuple[str, ...] = ()):
    return _cli(
        # "params" costs next to nothing: the storage, not the scoring, is under test.
        "run", "--engine", "optuna", "--strategy", "evolution", "--indicators", "params", "--storage", storage,
        "--study-name", study, "--trials", str(trials), "--seed", str(seed), "--quiet", "--device", "cpu", *extra,
        tmp_path=tmp_path,
    )  # fmt: skip


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 400) -> list[tuple[int, str]]:
    out = []
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        out.append((p.returncode, err))
    return out


def _no_duplicates(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    archs = Counter(t.user_attrs.get(ARCH) for t in done)
    assert None not in archs
    assert max(archs.values()) == 1, [a for a, n in archs.items() if n > 1]
    return done


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, str | None]]:
    """(base URL without database, server folder or None when CI owns the server)."""
    given = os.environ.get("TENAS_TEST_POSTGRES_URL")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("TENAS_REQUIRE_POSTGRES"):
            pytest.fail("psycopg is not installed: pip install 'tenas-automl[postgres]'")
        pytest.skip("psycopg is not installed (pip install 'tenas-automl[postgres]')")
    if given:
        yield given.rsplit("/", 1)[0], os.environ.get("TENAS_TEST_POSTGRES_DIR")
        return
    try:
        url, folder = _postgres.start()
    except _postgres.PostgresUnavailable as exc:
        if os.environ.get("TENAS_REQUIRE_POSTGRES"):
            pytest.fail(f"no PostgreSQL server could be started: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")
    try:
        yield url.rsplit("/", 1)[0], folder
    finally:
        _postgres.stop(folder)


@pytest.fixture
def pg_url(postgres_server: tuple[str, str | None]) -> str:
    """A new, empty database on the test server."""
    url = f"{postgres_server[0]}/t{uuid.uuid4().hex[:12]}"
    _postgres.create_database(url)
    return url


def test_three_workers_on_a_new_postgres_study(pg_url: str, tmp_path: Path) -> None:
    # Started at the same moment on an empty database: the tables' creation race, the settings, the claims.
    procs = [_worker(pg_url, "s", seed, 12, tmp_path=tmp_path) for seed in range(3)]
    for code, err in _finish(procs):
        assert code == 0, err
        assert "Traceback" not in err
    study = optuna.load_study(study_name="s", storage=pg_url)
    trials = study.get_trials(deepcopy=False)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert 12 <= len(trials) <= 14  # each worker stops at the total; two may be mid-trial then
    done = _no_duplicates(study)
    # The workers share scores: every trial was scored with the first worker's seed.
    assert len({str(t.user_attrs.get("tenas:settings")) for t in done}) == 1


#: Grace period of the kill test's workers: long enough that a busy survivor's own 1 s heartbeat
#: does not lapse on a loaded machine (its trial would be failed under it).
GRACE = 6


@pytest.mark.parametrize("kind", ["postgres", "journal"])
def test_a_killed_workers_trial_is_failed_and_retried(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    storage = request.getfixturevalue("pg_url") if kind == "postgres" else f"journal:{tmp_path / 'study.log'}"
    slow = subprocess.Popen(
        [sys.executable, str(HERE / "_slow_worker.py"), storage, "k", "0", "8", "120", "1", str(GRACE)],
        stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
    )  # fmt: skip
    from tenas_automl.integrations.optuna import open_storage

    reader = open_storage(storage, heartbeat_interval=None)
    deadline = time.time() + 240
    victim = None
    while victim is None and time.time() < deadline and slow.poll() is None:
        time.sleep(0.5)
        try:
            trials = optuna.load_study(study_name="k", storage=reader).get_trials(deepcopy=False)
        except KeyError:  # the study does not exist yet
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get(ARCH)]
        victim = running[0] if running else None
    assert victim is not None, slow.stderr.read() if slow.poll() is not None else "no trial started"
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    time.sleep(GRACE + 1)  # past the grace period
    others = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_slow_worker.py"), storage, "k", str(seed), "6", "0", "1", str(GRACE)],
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
        )  # fmt: skip
        for seed in (1, 2)
    ]
    for code, err in _finish(others):
        assert code == 0, err
    study = optuna.load_study(study_name="k", storage=reader)
    trials = study.get_trials(deepcopy=False)
    dead = trials[victim.number]
    assert dead.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1
    # Killed inside ask() (while scoring) or while suggesting, the trial had claimed its architecture
    # but set only some of its parameters, or none.
    claimed = architecture_params(get_space("nb201").parse(victim.user_attrs[ARCH]), get_space("nb201"))
    assert dead.params.items() <= claimed.items()
    assert retries[0].state == TrialState.COMPLETE and retries[0].params == claimed
    assert retries[0].user_attrs[ORIGIN] == "retry" and retries[0].user_attrs[ARCH] == victim.user_attrs[ARCH]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    _no_duplicates(study)


def test_two_workers_on_one_journal_file(tmp_path: Path) -> None:
    storage = f"journal:{tmp_path / 'study.log'}"
    shared = ("--cache-dir", str(tmp_path / "shared-cache"))  # a score cache on the "shared disk" as well
    for code, err in _finish([_worker(storage, "j", seed, 10, tmp_path=tmp_path, extra=shared) for seed in (0, 1)]):
        assert code == 0, err
    assert (tmp_path / "shared-cache" / "scores.sqlite").stat().st_size > 0
    study = optuna.load_study(study_name="j", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))))  # fmt: skip
    trials = study.get_trials(deepcopy=False)
    assert all(t.state == TrialState.COMPLETE for t in trials) and 10 <= len(trials) <= 11
    _no_duplicates(study)


def test_a_stopped_server_is_one_line_and_the_study_resumes(tmp_path: Path) -> None:
    try:
        import psycopg  # noqa: F401

        url, folder = _postgres.start()
    except (ImportError, _postgres.PostgresUnavailable) as exc:
        if os.environ.get("TENAS_REQUIRE_POSTGRES"):
            pytest.fail(f"no PostgreSQL server could be started: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")
    try:
        beat = ("--heartbeat", "1", "--grace", "3")
        proc = _worker(url, "r", 0, 400, tmp_path=tmp_path, extra=beat)
        deadline = time.time() + 240
        done: list = []
        while len(done) < 4 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                done = optuna.load_study(study_name="r", storage=url).get_trials(states=(TrialState.COMPLETE,))
            except KeyError:
                continue
        assert proc.poll() is None, proc.communicate()[1]
        _postgres.server_ctl(folder, "stop")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and url.split("//")[1].split("/")[0] in lines[0], err
        assert "Traceback" not in err
        _postgres.server_ctl(folder, "start")
        kept = optuna.load_study(study_name="r", storage=url).get_trials(states=(TrialState.COMPLETE,))
        assert len(kept) >= len(done) >= 4
        time.sleep(3.5)  # the trial cut off with the server is stale by now: the rerun fails and retries it
        target = len(kept) + 3
        ((code, err),) = _finish([_worker(url, "r", 0, target, tmp_path=tmp_path, extra=beat)])
        assert code == 0, err
        study = optuna.load_study(study_name="r", storage=url)
        assert len(study.get_trials(states=(TrialState.COMPLETE,))) == target
        assert not study.get_trials(states=(TrialState.RUNNING,))
        _no_duplicates(study)
    finally:
        _postgres.stop(folder)


@pytest.mark.parametrize(
    "storage, needle",
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/nodb", "127.0.0.1:1"),
        ("postgresql+psycopg://bob:secret@[bad/db", "cannot open the Optuna storage"),
        ("notaurl", "expected a database URL"),
        ("journal:/no/such/folder/study.log", "does not exist"),
    ],
)
def test_an_unreachable_or_malformed_storage_is_one_line(storage: str, needle: str, tmp_path: Path) -> None:
    proc = _worker(storage, "x", 0, 2, tmp_path=tmp_path)
    ((code, err),) = _finish([proc], timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert "secret" not in err and "Traceback" not in err


def test_open_storage_settings_and_messages(tmp_path: Path) -> None:
    from tenas_automl.errors import TenasError
    from tenas_automl.integrations.optuna import HeartbeatJournalStorage, open_storage
    from tenas_automl.integrations.optuna._storage import describe_storage

    assert describe_storage("postgresql+psycopg://bob:secret@db:5432/nas") == "postgresql+psycopg://bob:***@db:5432/nas"
    with pytest.raises(TenasError, match="grace period"):
        open_storage("sqlite:///x.db", heartbeat_interval=10, grace_period=10)
    with pytest.raises(TenasError, match="heartbeat_interval must be a positive"):
        open_storage("sqlite:///x.db", heartbeat_interval=0)
    with pytest.raises(TenasError, match="expected journal:PATH"):
        open_storage("journal:")
    rdb = open_storage(f"sqlite:///{tmp_path / 'a.db'}", heartbeat_interval=5, grace_period=20)
    assert rdb.get_heartbeat_interval() == 5 and rdb.grace_period == 20
    assert open_storage(f"sqlite:///{tmp_path / 'b.db'}", heartbeat_interval=None).get_heartbeat_interval() is None
    journal = open_storage(f"journal:{tmp_path / 'j.log'}", heartbeat_interval=1, grace_period=2)
    assert isinstance(journal, HeartbeatJournalStorage)
    # The journal's heartbeat: a running trial that stopped beating is stale after the grace period.
    study = optuna.create_study(storage=journal, study_name="h")
    with pytest.warns(UserWarning, match="Heartbeat"):  # Optuna: ask() outside optimize() records no beat itself
        trial = study.ask()
    journal.record_heartbeat(trial._trial_id)
    assert journal._get_stale_trial_ids(study._study_id) == []
    time.sleep(2.2)
    assert journal._get_stale_trial_ids(study._study_id) == [trial._trial_id]
    study.tell(trial, 1.0)
    assert journal._get_stale_trial_ids(study._study_id) == []
