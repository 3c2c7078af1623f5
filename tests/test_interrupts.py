"""Stopping long work: Ctrl-C, SIGTERM and a killed parent leave nothing running.

A search's worker processes must not outlive the command that started them,
and SIGTERM (a scheduler's time limit) reports and writes the result so far,
as Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")


def _alive(pid: int) -> bool:
    """Running or sleeping; False once gone or a zombie (an orphan's reaper may be slow)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_busy_worker_exits_when_its_parent_dies() -> None:
    # The parent dies without shutting its pool down (as under SIGKILL) while
    # the worker is busy; the worker then stops within seconds, not after its task.
    script = textwrap.dedent(
        """
        import os, time
        from tenas_automl.indicators import parallel

        pool = parallel._get_pool(1)
        print(pool.submit(os.getpid).result(), flush=True)
        pool.submit(time.sleep, 120)
        time.sleep(1.0)
        os._exit(0)
        """
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    worker = int(res.stdout.split()[0])
    assert _wait_until(lambda: not _alive(worker), timeout=20), f"worker {worker} outlived its parent"


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path) -> None:
    out, db = tmp_path / "res.json", tmp_path / "cache" / "scores.sqlite"
    env = {**os.environ, "TENAS_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    args = ["run", "--strategy", "random", "--budget", "15000", "--indicators", "lr", "--workers", "2",
            "--device", "cpu", "--output", str(out)]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "tenas_automl.cli", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:

        def some_values_cached() -> bool:
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    # A batch's values reach the cache before the search counts the batch: past
                    # the first batch (32 draws) there are evaluations to report, not a placeholder.
                    return conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0] > 32
            except sqlite3.Error:  # not created yet
                return False

        assert _wait_until(some_values_cached, timeout=180), "the run cached no full batch in 180 s"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert took < 60, f"took {took:.1f} s to stop"
    said = " ".join(stderr.split())
    assert "interrupted after" in said and "the same command resumes" in said, stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] and doc["cache"]["computed"] > 0 and doc["evaluations"] < 15000, stderr
    # The workers went with it.
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert not [pid for pid in children if _alive(int(pid))], children
