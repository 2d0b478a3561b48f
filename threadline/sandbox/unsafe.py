"""No sandbox at all: the kernel runs as a plain child process of the server, with the
server's user, files and network. Only for an operator who set
`THREADLINE_CODE_INTERPRETER_UNSAFE_NO_SANDBOX`, which the server announces loudly; the
kernel's working directory stands in for `/mnt/data`."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from threadline.sandbox.base import (
    ChildProcess,
    SandboxProcess,
    SandboxUnavailableError,
    Workspace,
)

__all__ = ["UnsafeLocalSandbox"]


@dataclass
class UnsafeLocalSandbox:
    venv: Path
    name: str = "unsafe-no-sandbox"

    def uid(self, slot: int) -> int | None:
        return None

    def check(self) -> None:
        if not (self.venv / "bin" / "python").exists():
            raise SandboxUnavailableError(
                f"The sandbox venv {self.venv} is missing: build it with `make sandbox`."
            )

    def inside(self, workspace: Workspace) -> Workspace:
        return workspace

    def prepare(self, workspace: Workspace, slot: int) -> None:
        workspace.data.mkdir(parents=True, exist_ok=True)
        workspace.sockets.mkdir(parents=True, exist_ok=True)

    async def start(
        self, workspace: Workspace, argv: list[str], env: dict[str, str], slot: int
    ) -> SandboxProcess:
        log = os.open(
            workspace.sockets / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=workspace.data,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            os.close(log)
        return ChildProcess(process)
