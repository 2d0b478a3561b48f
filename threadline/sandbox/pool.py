"""One kernel per thread, in this process: started on first use, kept between runs of the
thread, restarted after a crash or a limit kill, reaped after an idle timeout.

Runs of one thread never overlap (one active run per thread), and a kernel lives in the
process that runs the run: when a thread's next run lands on another worker process, that
run starts a fresh kernel and the earlier state is gone (files are placed again)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from threadline.sandbox import cgroup
from threadline.sandbox.base import Limits, Sandbox, SandboxUnavailableError, Workspace
from threadline.sandbox.kernel import KernelSession
from threadline.sandbox.slots import SlotClaims

__all__ = ["Kernel", "KernelPool", "PoolBusyError"]

logger = logging.getLogger("threadline.sandbox")


class PoolBusyError(RuntimeError):
    """Every kernel slot is in use by another thread's cell."""


@dataclass
class Kernel:
    """A thread's kernel and what the tool keeps beside it (the files it placed)."""

    thread_id: str
    slot: int
    workspace: Workspace
    uid: int | None
    session: KernelSession | None = None
    placed: dict[str, str] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    restarted: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class KernelPool:
    sandbox: Sandbox
    venv: Path
    limits: Limits = field(default_factory=Limits)
    idle_seconds: float = 3600.0
    max_kernels: int = 16
    root: Path | None = None
    _kernels: dict[str, Kernel] = field(default_factory=dict)
    _reaper: asyncio.Task[None] | None = None
    _root: Path | None = None
    _sockets: Path | None = None
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _slots: SlotClaims = field(default_factory=SlotClaims)
    _ending: set[asyncio.Task[None]] = field(default_factory=set)

    def _roots(self) -> tuple[Path, Path]:
        """Where workspaces' data and sockets directories go. Sockets stay under the system's
        temporary directory: a unix socket's path must be short (108 bytes)."""
        if self._root is None or self._sockets is None:
            if self.root is not None:
                self.root.mkdir(parents=True, exist_ok=True)
            self._root = Path(tempfile.mkdtemp(prefix="kernels-", dir=self.root))
            self._sockets = Path(tempfile.mkdtemp(prefix="tlk-"))
            cgroup.sweep()
            # Traversable, not listable: a sandbox's uid reaches its own directory only.
            os.chmod(self._root, 0o711)
            os.chmod(self._sockets, 0o711)
        return self._root, self._sockets

    @asynccontextmanager
    async def kernel(self, thread_id: str) -> AsyncIterator[Kernel]:
        """The thread's kernel, started when it has none, held for the caller's cells."""
        kernel = self._kernels.get(thread_id) or self._admit(thread_id)
        async with kernel.lock:
            if kernel.session is None or not kernel.session.alive:
                if kernel.session is not None:
                    await kernel.session.shutdown()
                    kernel.restarted = True
                kernel.session = await KernelSession.start(
                    self.sandbox, self.venv, kernel.workspace, kernel.slot, self.limits
                )
            self._start_reaper()
            try:
                yield kernel
            finally:
                kernel.last_used = time.monotonic()

    def _admit(self, thread_id: str) -> Kernel:
        if len(self._kernels) >= self.max_kernels:
            idle = [k for k in self._kernels.values() if not k.lock.locked()]
            if not idle:
                raise PoolBusyError(f"All {self.max_kernels} code interpreter sandboxes are busy.")
            oldest = min(idle, key=lambda k: k.last_used)
            self._forget(oldest)
            ending = asyncio.create_task(self._end(oldest))
            self._ending.add(ending)
            ending.add_done_callback(self._ending.discard)
        slot = self._slots.claim()
        data, sockets = self._roots()
        name = f"{slot}-{next(self._names)}"
        workspace = Workspace(data / name, sockets / name)
        kernel = Kernel(thread_id, slot, workspace, self.sandbox.uid(slot))
        self._kernels[thread_id] = kernel
        return kernel

    def _forget(self, kernel: Kernel) -> None:
        if self._kernels.get(kernel.thread_id) is kernel:
            del self._kernels[kernel.thread_id]

    async def _end(self, kernel: Kernel) -> None:
        async with kernel.lock:
            if kernel.session is not None:
                await kernel.session.shutdown()
                kernel.session = None
            for directory in (kernel.workspace.data, kernel.workspace.sockets):
                await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)
            self._slots.release(kernel.slot)

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(60.0, self.idle_seconds / 4))
        while self._kernels:
            await asyncio.sleep(interval)
            await self.reap()

    async def reap(self) -> int:
        """End the kernels idle past the timeout; how many were ended."""
        cutoff = time.monotonic() - self.idle_seconds
        idle = [k for k in self._kernels.values() if not k.lock.locked() and k.last_used <= cutoff]
        for kernel in idle:
            logger.debug("reaping the idle kernel of %s", kernel.thread_id)
            self._forget(kernel)
            await self._end(kernel)
        return len(idle)

    def __contains__(self, thread_id: str) -> bool:
        return thread_id in self._kernels

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with suppress(asyncio.CancelledError):
                await self._reaper
        kernels = list(self._kernels.values())
        self._kernels.clear()
        await asyncio.gather(*(self._end(k) for k in kernels), return_exceptions=True)
        for root in (self._root, self._sockets):
            if root is not None:
                await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)
        self._root = self._sockets = None


__all__ += ["SandboxUnavailableError"]
