"""Section 5: completed runs per second at several concurrencies (the async SDK in a process
of its own, `create_and_run_poll`), against a zero-latency upstream; the server's CPU per run."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx

from bench.procinfo import cpu_seconds
from bench.stats import Row, p50, p99

__all__ = ["loadgen", "measure_throughput"]


def loadgen(mode: str, base: str, assistant_id: str, *options: str) -> dict[str, Any]:
    """Run `python -m bench.loadgen` and return what it prints."""
    command = [sys.executable, "-m", "bench.loadgen", mode, "--base", base]
    command += ["--assistant", assistant_id, *options]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def measure_throughput(
    base: str,
    server_pid: int,
    levels: tuple[int, ...] = (1, 16, 64, 256),
    seconds: float = 5.0,
    warmup: float = 1.0,
    client: str = "sdk",
) -> tuple[dict[str, Any], list[Row]]:
    assistant = httpx.post(f"{base}/assistants", json={"model": "fake-model"}).json()
    figures: dict[str, Any] = {}
    rows: list[Row] = []
    for level in levels:
        cpu_before = cpu_seconds(server_pid)
        result = loadgen(
            "throughput",
            base,
            assistant["id"],
            *("--concurrency", str(level), "--seconds", str(seconds), "--warmup", str(warmup)),
            *("--client", client),
        )
        server_cpu = cpu_seconds(server_pid) - cpu_before
        latencies = result.pop("latencies_ms")
        per_second = result["completed"] / seconds
        # the server's CPU over warm-up and measurement, per run counted in the measurement
        runs_in_window = max(1, result["completed"] * (seconds + warmup) / seconds)
        result |= {
            "runs_per_second": per_second,
            "latency_p50_ms": p50(latencies),
            "latency_p99_ms": p99(latencies),
            "server_cpu_seconds": server_cpu,
            "server_cpu_ms_per_run": server_cpu * 1000 / runs_in_window,
        }
        figures[str(level)] = result
        rows.append(
            (
                f"concurrency {level}",
                f"{per_second:.0f} runs/s, p50 {p50(latencies):.1f} ms, p99 "
                f"{p99(latencies):.1f} ms, {result['errors']} errors, server CPU "
                f"{result['server_cpu_ms_per_run']:.2f} ms/run, client CPU "
                f"{result['client_cpu_seconds']:.1f} s",
            )
        )
    return figures, rows
