"""Kernel slot numbers unique on the machine, across server and worker processes: slot n
is held by an exclusive lock on a file, so that each running kernel has its own uid
(`uid_base + n`) and no kernel shares a process count (RLIMIT_NPROC) with another."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

__all__ = ["SlotClaims"]

_MOST = 100_000


class SlotClaims:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or Path(tempfile.gettempdir()) / "threadline-sandbox-slots"
        self._held: dict[int, int] = {}

    def claim(self) -> int:
        """The lowest slot no process holds, now held by this one."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        for slot in range(1, _MOST):
            if slot in self._held:
                continue
            fd = os.open(self.directory / f"{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._held[slot] = fd
            return slot
        raise RuntimeError("no free kernel slot")

    def release(self, slot: int) -> None:
        fd = self._held.pop(slot, None)
        if fd is not None:
            os.close(fd)
