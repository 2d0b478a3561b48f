"""`python -m bench.code_interpreter`: the code interpreter's kernels in the real sandbox.

Cold: from nothing to a kernel that answered its first cell (`print(1)`), through the pool
as a run does it. Warm: one more `print(1)` in a kernel already running. Also the first
matplotlib figure of a fresh kernel. Targets: warm <= 50 ms, cold <= 2 s."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from threadline.config import Settings
from threadline.sandbox.configured import configured_pool
from threadline.sandbox.pool import KernelPool

WARM_TARGET_MS = 50.0
COLD_TARGET_S = 2.0
FIGURE = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"


async def _cell(pool: KernelPool, thread_id: str, code: str) -> float:
    started = time.perf_counter()
    async with pool.kernel(thread_id) as kernel:
        assert kernel.session is not None
        result = await kernel.session.execute(code)
    elapsed = time.perf_counter() - started
    if result.died:
        raise RuntimeError(f"the kernel died: {result.outputs}")
    return elapsed


async def measure(colds: int, warms: int) -> dict[str, float]:
    pool = configured_pool(Settings())
    await asyncio.to_thread(pool.sandbox.check)
    try:
        cold = [await _cell(pool, f"thread_cold_{n}", "print(1)") for n in range(colds)]
        figure = [await _cell(pool, f"thread_cold_{n}", FIGURE) for n in range(colds)]
        warm = [await _cell(pool, "thread_cold_0", "print(1)") for _ in range(warms)]
    finally:
        await pool.close()
    return {
        "cold_kernel_median_s": statistics.median(cold),
        "cold_kernel_max_s": max(cold),
        "first_figure_median_s": statistics.median(figure),
        "warm_cell_median_ms": statistics.median(warm) * 1000,
        "warm_cell_p95_ms": sorted(warm)[int(len(warm) * 0.95) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.code_interpreter", description=__doc__)
    parser.add_argument("--cold", type=int, default=5, help="fresh kernels to start")
    parser.add_argument("--warm", type=int, default=100, help="cells in a running kernel")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.cold, args.warm))
    print("code interpreter (bubblewrap sandbox, ipykernel over ZMQ ipc)")
    print(f"  cold kernel, median      {figures['cold_kernel_median_s']:.2f} s")
    print(f"  cold kernel, max         {figures['cold_kernel_max_s']:.2f} s")
    print(f"  first figure, median     {figures['first_figure_median_s']:.2f} s")
    print(f"  warm cell, median        {figures['warm_cell_median_ms']:.1f} ms")
    print(f"  warm cell, p95           {figures['warm_cell_p95_ms']:.1f} ms")
    cold_ok = figures["cold_kernel_median_s"] <= COLD_TARGET_S
    warm_ok = figures["warm_cell_median_ms"] <= WARM_TARGET_MS
    print(f"  targets: cold <= {COLD_TARGET_S:g} s {'met' if cold_ok else 'MISSED'}, ", end="")
    print(f"warm <= {WARM_TARGET_MS:g} ms {'met' if warm_ok else 'MISSED'}")
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
