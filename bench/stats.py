"""Figures from samples: percentiles, and timings quoted against the floor."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["Row", "against_floor", "p50", "p99", "summary"]

Row = tuple[str, str]


def p50(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: Sequence[float]) -> float:
    if not values:
        return float("nan")
    return sorted(values)[max(0, round(0.99 * len(values)) - 1)]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and the count of a list of milliseconds."""
    return {"p50_ms": p50(values), "p99_ms": p99(values), "n": len(values)}


def against_floor(
    label: str, ours: Sequence[float], floor: Sequence[float]
) -> tuple[dict[str, float], list[Row]]:
    """`ours` against `floor` (milliseconds): ratios, and absolute overhead, at p50 and p99."""
    figures = {
        "p50_ms": p50(ours),
        "p99_ms": p99(ours),
        "floor_p50_ms": p50(floor),
        "floor_p99_ms": p99(floor),
    }
    figures["overhead_p50_ms"] = figures["p50_ms"] - figures["floor_p50_ms"]
    figures["overhead_p99_ms"] = figures["p99_ms"] - figures["floor_p99_ms"]
    figures["ratio_p50"] = figures["p50_ms"] / figures["floor_p50_ms"]
    rows = [
        (
            f"{label} p50",
            f"{figures['p50_ms']:.2f} ms = {figures['ratio_p50']:.2f}x floor "
            f"(+{figures['overhead_p50_ms']:.2f} ms)",
        ),
        (
            f"{label} p99",
            f"{figures['p99_ms']:.2f} ms (floor {figures['floor_p99_ms']:.2f} ms, "
            f"+{figures['overhead_p99_ms']:.2f} ms)",
        ),
    ]
    return figures, rows
