"""A persistent kernel per thread in the real sandbox: state, figures, errors, restarts,
idle reaping."""

from __future__ import annotations

import asyncio

import pytest

from tests.sandbox.conftest import VENV
from tests.sandbox.helpers import images, logs, run_cell
from threadline.sandbox.pool import KernelPool
from threadline.sandbox.unsafe import UnsafeLocalSandbox


async def test_state_persists_between_cells(pool: KernelPool) -> None:
    await run_cell(pool, "thread_a", "x = 41")
    result = await run_cell(pool, "thread_a", "print(x + 1)")
    assert logs(result) == "42\n"
    assert not result.died


async def test_errors_are_outputs(pool: KernelPool) -> None:
    result = await run_cell(pool, "thread_a", "1 / 0")
    assert "ZeroDivisionError" in logs(result)
    assert "\x1b[" not in logs(result)
    assert logs(await run_cell(pool, "thread_a", "print('still here')")) == "still here\n"


async def test_a_figure_is_a_png(pool: KernelPool) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    result = await run_cell(pool, "thread_a", code)
    [png] = images(result)
    assert png.startswith(b"\x89PNG")


async def test_numpy_and_pandas_are_there(pool: KernelPool) -> None:
    code = "import numpy as np, pandas as pd\nprint(pd.DataFrame({'a': np.arange(3)}).a.sum())"
    assert logs(await run_cell(pool, "thread_a", code)) == "3\n"


async def test_a_dead_kernel_restarts_clean(pool: KernelPool) -> None:
    await run_cell(pool, "thread_a", "x = 1")
    died = await run_cell(pool, "thread_a", "import os; os._exit(3)")
    assert died.died
    assert "kernel died" in logs(died)
    result = await run_cell(pool, "thread_a", "print('x' in dir())")
    assert logs(result) == "False\n"


async def test_idle_kernels_are_reaped(pool: KernelPool) -> None:
    await run_cell(pool, "thread_a", "x = 1")
    pool.idle_seconds = 0.0
    await asyncio.sleep(0.01)
    assert await pool.reap() == 1
    assert "thread_a" not in pool
    pool.idle_seconds = 3600.0
    assert logs(await run_cell(pool, "thread_a", "print('x' in dir())")) == "False\n"


async def test_least_recently_used_kernel_makes_room(pool: KernelPool) -> None:
    pool.max_kernels = 1
    await run_cell(pool, "thread_a", "x = 1")
    await run_cell(pool, "thread_b", "y = 2")
    assert "thread_a" not in pool
    assert "thread_b" in pool


async def test_the_unsafe_backend_runs_a_plain_kernel() -> None:
    """THREADLINE_CODE_INTERPRETER_UNSAFE_NO_SANDBOX: the kernel's cwd stands in for
    /mnt/data (no isolation at all: only for machines that are sandboxes themselves)."""
    if not (VENV / "bin" / "python").exists():
        pytest.skip(f"the sandbox venv {VENV} is missing: `make sandbox`")
    pool = KernelPool(UnsafeLocalSandbox(VENV), VENV)
    try:
        result = await run_cell(pool, "thread_a", "open('out.txt', 'w').write('1')")
        assert not result.died
        async with pool.kernel("thread_a") as kernel:
            assert (kernel.workspace.data / "out.txt").read_text() == "1"
    finally:
        await pool.close()
