"""The code interpreter's sandbox and kernel pool as the settings describe them."""

from __future__ import annotations

import logging

from threadline.config import Settings
from threadline.sandbox.base import Limits, Sandbox
from threadline.sandbox.bubblewrap import BubblewrapSandbox
from threadline.sandbox.pool import KernelPool
from threadline.sandbox.unsafe import UnsafeLocalSandbox

__all__ = ["UNSAFE_WARNING", "configured_pool"]

logger = logging.getLogger("threadline.sandbox")

UNSAFE_WARNING = (
    "THREADLINE_CODE_INTERPRETER_UNSAFE_NO_SANDBOX is set: code_interpreter runs the "
    "model's code WITHOUT ANY SANDBOX, as this server's user, with its files and network."
)


def configured_limits(settings: Settings) -> Limits:
    return Limits(
        cpu_seconds=settings.code_interpreter_cpu_seconds,
        wall_seconds=settings.code_interpreter_wall_seconds,
        memory_mb=settings.code_interpreter_memory_mb,
        file_size_mb=settings.code_interpreter_file_size_mb,
        processes=settings.code_interpreter_processes,
    )


def configured_pool(settings: Settings) -> KernelPool:
    limits = configured_limits(settings)
    venv = settings.code_interpreter_venv
    sandbox: Sandbox
    if settings.code_interpreter_unsafe_no_sandbox:
        sandbox = UnsafeLocalSandbox(venv)
    else:
        sandbox = BubblewrapSandbox(venv, limits, uid_base=settings.code_interpreter_uid_base)
    return KernelPool(
        sandbox,
        venv,
        limits,
        idle_seconds=settings.code_interpreter_idle_seconds,
        max_kernels=settings.code_interpreter_max_kernels,
        root=settings.code_interpreter_work_dir,
    )
