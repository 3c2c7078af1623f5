"""Running a real ``nnictl`` experiment from a test: private HOME, free port, no process left behind."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: nnictl 3.0 imports pkg_resources, which setuptools 82 removed. Where it is
#: missing, the nnictl subprocess gets this stand-in (nnictl only asks it for NNI's version).
PKG_RESOURCES_SHIM = """
import importlib.metadata as _metadata


class ResolutionError(Exception):
    pass


class DistributionNotFound(ResolutionError):
    pass


class _Distribution:
    def __init__(self, name):
        try:
            self.version = _metadata.version(name)
        except _metadata.PackageNotFoundError as exc:
            raise DistributionNotFound(name) from exc
        self.project_name = name


def get_distribution(name):
    return _Distribution(name)
"""


def nnictl_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(tmp_path / "home"), "NNI_CONFIG_DIR": str(tmp_path / "nni-config")}
    (tmp_path / "home").mkdir(exist_ok=True)
    if importlib.util.find_spec("pkg_resources") is None:
        shim = tmp_path / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "pkg_resources.py").write_text(PKG_RESOURCES_SHIM)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim), env.get("PYTHONPATH", "")) if p)
    return env


def nnictl(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("nnictl")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "nni.tools.nnictl.nnictl"]
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's bookkeeping is left


def processes_in(root: Path, extra: list[int]) -> list[int]:
    """Live processes working under ``root`` (dispatcher, trials), plus ``extra`` pids still alive."""
    found = [pid for pid in extra if alive(pid)]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(root) and alive(int(proc.name)):
            found.append(int(proc.name))
    return sorted(set(found))


@dataclass
class Finished:
    """A finished experiment: its id, folder, final status, trials (NNI's REST objects) and logs."""

    exp_id: str
    folder: Path
    status: str
    trials: list[Any]
    errors: str
    dispatcher_log: str


def _create(config: Path, tmp_path: Path, env: dict[str, str], attempts: int = 3) -> int:
    """``nnictl create`` on a free port; the port it runs on.

    nnictl gives the manager's web server about three seconds to answer; on a
    machine busy with other tests it can miss that, so a start that failed that
    way is cleaned up and tried again on another port.
    """
    for attempt in range(attempts):
        port = free_port()
        created = nnictl(["create", "--config", str(config), "--port", str(port)], env)
        output = created.stdout + created.stderr
        if created.returncode == 0:
            return port
        assert "Create experiment failed" in output and attempt < attempts - 1, output
        manifest = tmp_path / "home" / "nni-experiments" / ".experiment"
        entries = json.loads(manifest.read_text()) if manifest.is_file() else {}
        for info in entries.values():  # the manager that did not answer in time (it leads its own group)
            if int(info.get("port", -1)) == port and info.get("pid") and alive(int(info["pid"])):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(info["pid"]), signal.SIGKILL)
        for pid in processes_in(tmp_path, []):
            os.kill(pid, signal.SIGKILL)
        time.sleep(2)
    raise AssertionError("unreachable")


@contextmanager
def experiment(config: Path, tmp_path: Path, exp_root: Path, timeout: float = 300) -> Iterator[Finished]:
    """``nnictl create`` ``config`` (whose experimentWorkingDirectory is ``exp_root``), wait until it
    is DONE (or fails), yield what it did; then stop it and assert that no process it started survives."""
    from nni.experiment import Experiment

    env = nnictl_env(tmp_path)
    exp_id, manager_pid, leftovers = None, None, []
    try:
        port = _create(config, tmp_path, env)
        manifest = json.loads((tmp_path / "home" / "nni-experiments" / ".experiment").read_text())
        ((exp_id, info),) = [(k, v) for k, v in manifest.items() if int(v.get("port", -1)) == port]
        manager_pid = int(info["pid"])
        exp = Experiment.connect(port)
        log = exp_root / exp_id / "log" / "dispatcher.log"
        deadline = time.monotonic() + timeout
        while (status := exp.get_status()) not in ("DONE", "ERROR", "STOPPED") and time.monotonic() < deadline:
            if log.is_file() and "ERROR (" in log.read_text():  # NNI 3.0 stays RUNNING when the tuner fails
                break
            time.sleep(2)
        manager = (exp_root / exp_id / "log" / "nnimanager.log").read_text()
        errors = "\n".join(line for line in manager.splitlines() if "ERROR" in line)
        dispatcher = log.read_text() if log.is_file() else ""
        yield Finished(exp_id, exp_root / exp_id, status, exp.list_trial_jobs(), errors, dispatcher)
    finally:
        if exp_id is not None:
            nnictl(["stop", exp_id], env)
        extra = [manager_pid] if manager_pid else []
        deadline = time.monotonic() + 60
        while (leftovers := processes_in(tmp_path, extra)) and time.monotonic() < deadline:
            time.sleep(1)
        for pid in leftovers:  # only processes this test started
            os.kill(pid, signal.SIGKILL)
        if manager_pid and alive(manager_pid):
            os.killpg(manager_pid, signal.SIGKILL)  # the manager leads its own process group
    assert not leftovers, f"processes left after nnictl stop: {leftovers}"
