"""Real bubblewrap sandboxes for the sandbox tests, skipped (saying why) where none can
start: bubblewrap missing, the sandbox venv not built (`make sandbox`), or no namespaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cache

import pytest

from threadline.config import Settings
from threadline.sandbox.base import Limits, SandboxUnavailableError
from threadline.sandbox.bubblewrap import BubblewrapSandbox
from threadline.sandbox.pool import KernelPool

__all__ = ["LIMITS", "VENV", "sandbox_skip_reason"]

VENV = Settings().code_interpreter_venv
# Tight enough that each limit test ends in seconds, loose enough for the 2-core CI machine.
LIMITS = Limits(cpu_seconds=3, wall_seconds=8.0, memory_mb=512, file_size_mb=8, processes=64)


@cache
def sandbox_skip_reason() -> str | None:
    try:
        BubblewrapSandbox(VENV, LIMITS).check()
    except SandboxUnavailableError as error:
        return f"no code interpreter sandbox here: {error}"
    return None


def requires_sandbox() -> None:
    reason = sandbox_skip_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
async def pool() -> AsyncIterator[KernelPool]:
    requires_sandbox()
    pool = KernelPool(BubblewrapSandbox(VENV, LIMITS), VENV, LIMITS)
    try:
        yield pool
    finally:
        await pool.close()
