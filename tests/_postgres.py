"""A private PostgreSQL server for the tests: started on a free port of 127.0.0.1, in a temporary folder.

``.ci/run`` starts one for the whole test run (``python tests/_postgres.py start``
prints the ``export`` lines of its URL and folder; ``stop FOLDER`` stops it);
the tests start their own when ``TENAS_TEST_POSTGRES_URL`` is unset. ``initdb``
refuses to run as root, so as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server could be started here (the reason is the message)."""


def _bin_dir() -> Path:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        found = sorted(glob.glob(pattern), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
        if found:
            return Path(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable("PostgreSQL is not installed (no initdb); Debian: apt-get install -y postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root without runuser: cannot run initdb as the postgres user")
    return ["runuser", "-u", "postgres", "--", *cmd]


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {(done.stderr or done.stdout).strip()[-300:]}")


def start(database: str = "tenastest") -> tuple[str, str]:
    """Start a server; return its SQLAlchemy URL and its folder (for :func:`stop`)."""
    bins = _bin_dir()
    folder = tempfile.mkdtemp(prefix="tenas-pg-")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data = os.path.join(folder, "data")
    _run([str(bins / "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    _run([str(bins / "pg_ctl"), "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o", options, "start"])
    with open(os.path.join(folder, "port"), "w") as f:
        f.write(str(port))
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    create_database(url)
    return url, folder


def create_database(url: str) -> None:
    """Create the database of ``url`` on its server (it must not exist)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    for attempt in range(20):
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return
        except psycopg.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.25)


def server_ctl(folder: str, action: str) -> None:
    """``pg_ctl stop`` (fast: connections are cut) or ``start`` the server in ``folder``, same port."""
    bins = _bin_dir()
    data = os.path.join(folder, "data")
    if action == "stop":
        _run([str(bins / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"])
        return
    port = Path(folder, "port").read_text().strip()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    _run([str(bins / "pg_ctl"), "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o", options, "start"])


def stop(folder: str) -> None:
    """Stop the server in ``folder`` and remove it."""
    try:
        if Path(folder, "data", "postmaster.pid").exists():
            server_ctl(folder, "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        url, folder = start()
        print(f"export TENAS_TEST_POSTGRES_URL={url}\nexport TENAS_TEST_POSTGRES_DIR={folder}")
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop(sys.argv[2])
    else:
        sys.exit("usage: python tests/_postgres.py start | stop FOLDER")
