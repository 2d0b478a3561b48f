"""Running a cell in a pooled kernel and reading its logs."""

from __future__ import annotations

from threadline.sandbox.kernel import CellResult, Image, Log
from threadline.sandbox.pool import KernelPool

__all__ = ["logs", "run_cell"]


async def run_cell(pool: KernelPool, thread_id: str, code: str) -> CellResult:
    async with pool.kernel(thread_id) as kernel:
        assert kernel.session is not None
        return await kernel.session.execute(code)


def logs(result: CellResult) -> str:
    return "".join(o.text for o in result.outputs if isinstance(o, Log))


def images(result: CellResult) -> list[bytes]:
    return [o.png for o in result.outputs if isinstance(o, Image)]
