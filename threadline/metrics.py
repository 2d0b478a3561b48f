"""Prometheus metrics of one process, on a registry of its own (one per application).

Updates are O(1) per run event that changes a run's status and per upstream call, never
per streamed chunk. Queue depth and the runs in each active status are read from the
store when `/metrics` is scraped, so every replica reports the shared database's view."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from threadline.protocol.runs import Run

__all__ = ["CONTENT_TYPE", "ENDED", "Metrics"]

# Statuses in which a run stops: its duration is observed when it reaches one.
ENDED = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")

_RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "threadline_runs",
            "Runs that reached each status in this process",
            ["status"],
            registry=r,
        )
        self.run_seconds = Histogram(
            "threadline_run_duration_seconds",
            "Seconds from a run's creation to its end, by final status",
            ["status"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "threadline_upstream_call_seconds",
            "Seconds one upstream chat-completions call took, to its last chunk",
            ["upstream", "outcome"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "threadline_tokens",
            "Tokens used by ended runs, as the upstream counted them",
            ["kind"],
            registry=r,
        )
        self.active_streams = Gauge(
            "threadline_active_streams", "Streaming responses open in this process", registry=r
        )
        self.queue_depth = Gauge(
            "threadline_queue_depth",
            "Queued runs waiting for a worker (whole database)",
            registry=r,
        )
        self.runs_active = Gauge(
            "threadline_runs_active",
            "Runs in each active status (whole database)",
            ["status"],
            registry=r,
        )

    def run_status(self, run: Run) -> None:
        """A run reached `run.status` (called once per status change)."""
        status = run.status
        self.runs.labels(status).inc()
        if status in ENDED:
            self.run_seconds.labels(status).observe(max(0.0, time.time() - run.created_at))
            if run.usage is not None:
                self.tokens.labels("prompt").inc(run.usage.prompt_tokens)
                self.tokens.labels("completion").inc(run.usage.completion_tokens)

    def upstream_call(self, upstream: str, seconds: float, outcome: str) -> None:
        self.upstream_seconds.labels(upstream, outcome).observe(seconds)

    def set_run_counts(self, counts: dict[str, int]) -> None:
        for status in ACTIVE:
            self.runs_active.labels(status).set(counts.get(status, 0))
        self.queue_depth.set(counts.get("queued", 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
