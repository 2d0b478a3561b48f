"""A memory cgroup per kernel, made under the server's own cgroup (v1 or v2), so that a
kernel past its memory limit is killed without touching the server. Where no cgroup can be
made (no permission, no controller) the kernel runs without one, held by RLIMIT_AS alone."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

__all__ = ["MemoryCgroup", "sweep"]

logger = logging.getLogger("threadline.sandbox")

_ROOT = Path("/sys/fs/cgroup")


def _own_path(controller: str) -> Path | None:
    """The server's cgroup directory for `controller` (v1), or its v2 directory."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return _ROOT / controller / path.lstrip("/")
    for line in lines:
        if line.startswith("0::"):
            return _ROOT / line[3:].lstrip("/")
    return None


class MemoryCgroup:
    """One kernel's memory cgroup; `procs` is the file a process joins it by."""

    def __init__(self, path: Path, procs: Path) -> None:
        self.path = path
        self.procs = procs

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup | None:
        parent = _own_path("memory")
        if parent is None:
            return None
        path = parent / name
        v1 = (parent / "memory.limit_in_bytes").exists()
        try:
            path.mkdir(exist_ok=True)
            if v1:
                (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                swap = path / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(limit_bytes))
            else:
                (path / "memory.max").write_text(str(limit_bytes))
                swap = path / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0")
        except OSError as error:
            logger.debug("no memory cgroup for the sandbox (%s): RLIMIT_AS alone", error)
            _remove(path)
            return None
        return cls(path, path / "cgroup.procs")

    async def remove(self) -> None:
        """Remove the cgroup once its last process is gone (a killed one lingers briefly)."""
        for _ in range(100):
            if _remove(self.path):
                return
            await asyncio.sleep(0.02)
        logger.warning("the memory cgroup %s is still busy: left in place", self.path)


def _remove(path: Path) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def sweep(prefix: str = "threadline-kernel-") -> int:
    """Remove the empty kernel cgroups of server processes that are gone (killed before they
    could clean up); how many were removed."""
    parent = _own_path("memory")
    if parent is None:
        return 0
    removed = 0
    try:
        entries = list(parent.glob(f"{prefix}*"))
    except OSError:
        return 0
    for entry in entries:
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and _remove(entry):
            removed += 1
    return removed
