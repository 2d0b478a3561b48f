"""What every sandbox backend offers: start one isolated kernel process for a workdir."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["Limits", "Sandbox", "SandboxProcess", "SandboxUnavailableError", "Workspace"]

# Where the kernel sees its files and its connection sockets, inside every sandbox.
DATA_DIR = "/mnt/data"
KERNEL_DIR = "/run/kernel"


class SandboxUnavailableError(RuntimeError):
    """No sandbox can start here (tool missing, namespaces refused); the message says why."""


@dataclass(frozen=True)
class Limits:
    """Per-cell CPU and wall-clock time; per-kernel memory, file size and process count."""

    cpu_seconds: int = 60
    wall_seconds: float = 120.0
    memory_mb: int = 2048
    file_size_mb: int = 512
    processes: int = 64


@dataclass(frozen=True)
class Workspace:
    """The host directories of one kernel: its `/mnt/data` and its sockets directory."""

    data: Path
    sockets: Path


class SandboxProcess(Protocol):
    """A started sandbox: the process tree whose leader is `pid`."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...

    async def cleanup(self) -> None:
        """Release what the sandbox held outside its processes (a cgroup), once ended."""
        ...


@dataclass
class ChildProcess:
    """A `SandboxProcess` started with asyncio; `release` undoes what it held outside its
    processes (a cgroup) once it has ended."""

    process: asyncio.subprocess.Process
    release: Callable[[], Awaitable[None]] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def wait(self) -> int:
        return await self.process.wait()

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def cleanup(self) -> None:
        if self.release is not None:
            await self.release()


class Sandbox(Protocol):
    """A backend that runs the kernel command in isolation."""

    name: str

    def check(self) -> None:
        """Raise `SandboxUnavailableError` when this backend cannot start here."""
        ...

    def uid(self, slot: int) -> int | None:
        """The host uid the kernel of `slot` runs as; None: the server's own."""
        ...

    def inside(self, workspace: Workspace) -> Workspace:
        """The workspace's directories as the kernel sees them."""
        ...

    def prepare(self, workspace: Workspace, slot: int) -> None:
        """Make the workspace usable by the sandbox's user (slot numbers kernels)."""
        ...

    async def start(
        self, workspace: Workspace, argv: list[str], env: dict[str, str], slot: int
    ) -> SandboxProcess: ...
