"""Section 6: many streamed runs at once against a slow upstream: all complete, errors
counted, the server's resident memory sampled while they run."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from bench.floor import PROMPT
from bench.procinfo import cpu_seconds, rss_bytes
from bench.stats import Row, p50, p99
from bench.throughput import loadgen

__all__ = ["measure_load"]

MIB = 1024 * 1024


class _Sampler(threading.Thread):
    """The peak resident memory of a process, read every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = rss_bytes(pid)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def measure_load(
    base: str, server_pid: int, streams: int = 1000, tokens: int = 100, client: str = "sdk"
) -> tuple[dict[str, Any], list[Row]]:
    assistant = httpx.post(f"{base}/assistants", json={"model": "fake-model"}).json()
    prompt = " ".join(PROMPT.split()[: tokens - 1])  # the upstream's reply is "Echo: " + prompt
    before, cpu_before = rss_bytes(server_pid), cpu_seconds(server_pid)
    sampler = _Sampler(server_pid)
    sampler.start()
    try:
        result = loadgen(
            "load",
            base,
            assistant["id"],
            "--streams",
            str(streams),
            "--prompt",
            prompt,
            *("--client", client),
        )
    finally:
        peak = sampler.stop()
    latencies = result.pop("latencies_ms")
    result |= {
        "streams": streams,
        "tokens_per_stream": tokens,
        "rss_before_mib": before / MIB,
        "rss_peak_mib": peak / MIB,
        "rss_after_mib": rss_bytes(server_pid) / MIB,
        "server_cpu_seconds": cpu_seconds(server_pid) - cpu_before,
        "stream_p50_ms": p50(latencies),
        "stream_p99_ms": p99(latencies),
    }
    rows = [
        (
            f"{streams} streams x {tokens} tokens",
            f"{result['completed']} completed, {result['errors']} errors, "
            f"{result['deltas']} deltas in {result['seconds']:.1f} s",
        ),
        ("stream duration p50 / p99", f"{p50(latencies):.0f} / {p99(latencies):.0f} ms"),
        (
            "server RSS before / peak / after",
            f"{before / MIB:.0f} / {peak / MIB:.0f} / {result['rss_after_mib']:.0f} MiB",
        ),
        (
            "server / client CPU",
            f"{result['server_cpu_seconds']:.1f} s / {result['client_cpu_seconds']:.1f} s",
        ),
    ]
    return result, rows
