"""One persistent ipykernel inside a sandbox, driven with `jupyter_client` over ZMQ ipc
sockets in the workspace's sockets directory.

A cell's outputs come back as `Log` and `Image` items in order. A cell past its wall-clock
limit is interrupted (its state kept); one that will not stop, and one whose kernel dies
(its memory or CPU limit reached), ends the kernel: `CellResult.died` says the state is gone."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import resource
import secrets
import signal
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, cast

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo

from threadline.sandbox.base import (
    Limits,
    Sandbox,
    SandboxProcess,
    SandboxUnavailableError,
    Workspace,
)

__all__ = ["CellResult", "Image", "KernelSession", "Log"]

logger = logging.getLogger("threadline.sandbox")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_POLL_SECONDS = 0.2
_INTERRUPT_GRACE_SECONDS = 2.0
_TICKS = os.sysconf("SC_CLK_TCK")
# Threads of numerical libraries: one each, so that the process limit and memory go to code.
_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS")


@dataclass(frozen=True)
class Log:
    text: str


@dataclass(frozen=True)
class Image:
    png: bytes


@dataclass
class CellResult:
    outputs: list[Log | Image] = field(default_factory=list)
    died: bool = False

    def log(self, text: str) -> None:
        if self.outputs and isinstance(self.outputs[-1], Log):
            self.outputs[-1] = Log(self.outputs[-1].text + text)
        else:
            self.outputs.append(Log(text))


def kernel_env(venv: Path, inside: Workspace) -> dict[str, str]:
    env = {
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PATH": f"{venv}/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_PLATFORM_DIRS": "1",
        "THREADLINE_MPL_CACHE": str(venv / "share" / "threadline" / "matplotlib"),
    }
    return env | dict.fromkeys(_THREAD_ENV, "1")


# Run in the kernel before the first cell: matplotlib's font cache, built with the venv,
# copied where matplotlib wants a writable one (saves about a second on the first plot).
_STARTUP = """
import os as _os, shutil as _shutil
_src = _os.environ.get("THREADLINE_MPL_CACHE", "")
if _src and _os.path.isdir(_src):
    _shutil.copytree(_src, _os.environ["MPLCONFIGDIR"], dirs_exist_ok=True)
del _os, _shutil, _src
"""

# Run after a cell's leftover processes were killed: the kernel collects its dead children.
_REAP = """
import os as _os, time as _time
_until = _time.monotonic() + 2
while _time.monotonic() < _until:
    try:
        if _os.waitpid(-1, _os.WNOHANG)[0] == 0:
            _time.sleep(0.01)
    except ChildProcessError:
        break
del _os, _time, _until
"""


@dataclass
class KernelSession:
    """A started kernel; `execute` runs one cell at a time (the pool serialises callers)."""

    process: SandboxProcess
    client: AsyncKernelClient
    workspace: Workspace
    limits: Limits
    as_root: bool
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    async def start(
        cls,
        sandbox: Sandbox,
        venv: Path,
        workspace: Workspace,
        slot: int,
        limits: Limits,
        ready_seconds: float = 30.0,
    ) -> KernelSession:
        sandbox.prepare(workspace, slot)
        inside = sandbox.inside(workspace)
        key = secrets.token_hex(16)
        info: dict[str, Any] = {
            "transport": "ipc",
            "ip": str(inside.sockets / "kernel"),
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": key,
            "signature_scheme": "hmac-sha256",
            "kernel_name": "python3",
        }
        connection = workspace.sockets / "connection.json"
        connection.write_text(json.dumps(info))
        uid = sandbox.uid(slot)
        if uid is not None:
            os.chown(connection, uid, uid)
        os.chmod(connection, 0o600)
        argv = [str(venv / "bin" / "python"), "-m", "ipykernel_launcher"]
        argv += ["-f", str(inside.sockets / "connection.json")]
        argv += ["--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"]
        process = await sandbox.start(workspace, argv, kernel_env(venv, inside), slot)
        client = AsyncKernelClient()
        client.load_connection_info(
            cast(KernelConnectionInfo, info | {"ip": str(workspace.sockets / "kernel")})
        )
        client.start_channels(hb=False)
        session = cls(process, client, workspace, limits, os.geteuid() == 0)
        try:
            await session._ready(ready_seconds)
            await session._run_quietly(_STARTUP)
        except BaseException:
            await session.shutdown()
            raise
        return session

    async def _ready(self, seconds: float) -> None:
        """Wait until the kernel answers on its shell socket and its iopub messages reach
        us (a subscription joins late): a kernel_info request is sent until its busy
        status arrives on iopub. No heartbeat: on a loaded machine it misses beats."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive:
                break
            msg_id = self.client.kernel_info()
            until = min(deadline, time.monotonic() + 1.0)
            while time.monotonic() < until:
                try:
                    message = await self.client.get_iopub_msg(timeout=0.1)
                except Empty:
                    if not self.alive:
                        break
                    continue
                if message["parent_header"].get("msg_id") == msg_id:
                    await self._drain_reply(msg_id)
                    await self._flush_iopub()
                    return
        raise SandboxUnavailableError(f"The sandboxed kernel did not start: {self._log_tail()}")

    async def _flush_iopub(self) -> None:
        try:
            while True:
                await self.client.get_iopub_msg(timeout=0.05)
        except Empty:
            return

    def _log_tail(self) -> str:
        try:
            text = (self.workspace.sockets / "kernel.log").read_text(errors="replace")
        except OSError:
            text = ""
        tail = text.strip().splitlines()[-5:]
        return " | ".join(tail) if tail else f"exit status {self.process.returncode}"

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def _run_quietly(self, code: str) -> None:
        result = await self.execute(code)
        if result.died:
            raise SandboxUnavailableError(f"The sandboxed kernel died: {self._log_tail()}")

    async def execute(self, code: str, silent: bool = False) -> CellResult:
        """Run one cell under the per-cell limits and return its outputs."""
        self._grant_cpu()
        result = CellResult()
        # stop_on_error=False: a cell interrupted by a cancel must not abort the next one,
        # which may be sent before the interrupt has taken effect.
        msg_id = self.client.execute(
            code, silent=silent, store_history=False, allow_stdin=False, stop_on_error=False
        )
        try:
            result = await self._outcome(msg_id, result)
        except asyncio.CancelledError:
            self._interrupt()  # the run was cancelled: stop the cell, keep the kernel
            raise
        if result.died:
            return result
        await self._drain_reply(msg_id)
        if self._end_strays() and not silent:
            await self.execute(_REAP, silent=True)
        return result

    async def _outcome(self, msg_id: str, result: CellResult) -> CellResult:
        """The cell's outputs, collected until it ends, its time limit stops it, or its
        kernel dies."""
        deadline = time.monotonic() + self.limits.wall_seconds
        interrupted = False
        while True:
            if not self.alive:
                return self._died(result)
            now = time.monotonic()
            if now >= deadline:
                if interrupted:
                    result.log(
                        f"\nThe cell did not stop {_INTERRUPT_GRACE_SECONDS:g} s after its "
                        "interrupt: the kernel was restarted and its state is lost.\n"
                    )
                    await self.shutdown()
                    result.died = True
                    return result
                interrupted = True
                self._interrupt()
                result.log(
                    f"\nThe cell was stopped after {self.limits.wall_seconds:g} s "
                    "(its time limit).\n"
                )
                deadline = now + _INTERRUPT_GRACE_SECONDS
            try:
                message = await self.client.get_iopub_msg(timeout=_POLL_SECONDS)
            except Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if _add_output(result, message):
                return result

    def _died(self, result: CellResult) -> CellResult:
        code = self.process.returncode
        result.log(
            f"\nThe kernel died ({_cause(code)}): it will be restarted and its state "
            "(variables, imports) is lost. Files in /mnt/data are kept.\n"
        )
        result.died = True
        return result

    async def _drain_reply(self, msg_id: str) -> None:
        try:
            while True:
                reply = await self.client.get_shell_msg(timeout=1.0)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return
        except Empty:
            return

    def _interrupt(self) -> None:
        message = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(message)

    def _end_strays(self) -> bool:
        """Kill what a cell left running beside the kernel: processes a cell starts do not
        outlive it (a fork bomb's survivors, daemons, forgotten subprocesses). True when
        there were some: the kernel then reaps its dead children."""
        tree = _tree(self.process.pid)
        parents = {child: parent for parent, children in tree.items() for child in children}
        # The kernel is the topmost Python running ipykernel (its forks look just like it).
        kernel = next(
            (pid for pid in tree if _is_kernel(pid) and not _is_kernel(parents.get(pid, 0))),
            None,
        )
        if kernel is None:
            return False
        keep = {kernel}
        current = kernel
        while current in parents:
            current = parents[current]
            keep.add(current)
        strays = [pid for pid in tree if pid not in keep]
        for pid in strays:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return bool(strays)

    def _grant_cpu(self) -> None:
        """Raise each sandboxed process's RLIMIT_CPU to what it used plus one cell's worth."""
        for pid in _descendants(self.process.pid):
            used = _cpu_seconds(pid)
            if used is None:
                continue
            soft = int(used) + 1 + self.limits.cpu_seconds
            try:
                _, hard = resource.prlimit(pid, resource.RLIMIT_CPU)
                if self.as_root:
                    hard = soft + 5
                resource.prlimit(pid, resource.RLIMIT_CPU, (soft, hard))
            except (OSError, ValueError):
                continue

    async def shutdown(self) -> None:
        """End the kernel's whole sandbox at once (no state is worth a graceful exit)."""
        try:
            self.client.stop_channels()
        except Exception:  # pragma: no cover - closing sockets of a dead kernel
            logger.debug("closing kernel channels failed", exc_info=True)
        self.process.kill()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=5.0)
        except TimeoutError:  # pragma: no cover
            logger.warning("sandbox process %s did not exit", self.process.pid)
        await self.process.cleanup()


def _cause(code: int | None) -> str:
    """Why a sandbox ended, from its exit status (bubblewrap reports 128 + a signal)."""
    signal = -code if code is not None and code < 0 else (code or 0) - 128
    if signal == 9:
        return "killed, most likely at its memory limit"
    if signal == 24:
        return "its CPU time limit was reached"
    return f"exit status {code}"


def _add_output(result: CellResult, message: dict[str, Any]) -> bool:
    """Record one iopub message; True once the cell is over (the kernel went idle)."""
    kind, content = message["msg_type"], message["content"]
    if kind == "status":
        return bool(content.get("execution_state") == "idle")
    if kind == "stream":
        result.log(str(content.get("text", "")))
    elif kind == "error":
        result.log(_ANSI.sub("", "\n".join(content.get("traceback", []))) + "\n")
    elif kind in ("display_data", "execute_result"):
        data = content.get("data", {})
        if "image/png" in data:
            result.outputs.append(Image(base64.b64decode(data["image/png"])))
        elif "text/plain" in data:
            result.log(str(data["text/plain"]) + "\n")
    return False


def _tree(pid: int) -> dict[int, list[int]]:
    """Each process under `pid` (itself included) with its children."""
    tree: dict[int, list[int]] = {}
    queue = [pid]
    while queue:
        current = queue.pop()
        children = tree[current] = []
        for task in _children_files(current):
            try:
                children += [int(child) for child in task.read_text().split()]
            except (OSError, ValueError):
                continue
        queue += [child for child in children if child not in tree]
    return tree


def _descendants(pid: int) -> list[int]:
    return list(_tree(pid))


def _is_kernel(pid: int) -> bool:
    """Whether `pid` is the kernel itself (bubblewrap's own command line names it too)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"python" in argv[0].rsplit(b"/", 1)[-1] and b"ipykernel_launcher" in argv


def _children_files(pid: int) -> list[Path]:
    try:
        return list(Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS
