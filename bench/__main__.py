"""`python -m bench`: Threadline against the model floor, section by section.

Starts fake OpenAI-compatible upstreams and `threadline serve` (SQLite; PostgreSQL too when
THREADLINE_TEST_POSTGRES_URL is set), each in a process of its own, measures, prints a table
and writes JSON. Timings are quoted as ratios to the floor (the same completion called on the
upstream directly) and as absolute overhead over it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.floor import measure_floor
from bench.growth import measure_growth
from bench.load import measure_load
from bench.loadgen import CLIENTS
from bench.polled import measure_polled
from bench.servers import Process, fake_upstream, postgres_database, threadline
from bench.stats import Row
from bench.streaming import measure_streaming
from bench.throughput import measure_throughput
from bench.tool_calls import measure_tool_round_trip

SECTIONS = ("floor", "polled", "streamed", "tools", "throughput", "load", "growth")
# Sections that share the upstream of --latency-ms / --tokens-per-second.
_MAIN_UPSTREAM = ("floor", "polled", "streamed", "tools", "growth")

Measure = Callable[[Process, Process], tuple[dict[str, Any], list[Row]]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add = parser.add_argument
    add(
        "--sections", default=",".join(SECTIONS), help="comma-separated, of: " + ", ".join(SECTIONS)
    )
    add("--backends", default="", help="sqlite,postgres (default: sqlite, and postgres when set)")
    add("--quick", action="store_true", help="a smoke run: tiny counts, seconds in all")
    add("--latency-ms", type=float, default=50.0, help="upstream time to first token")
    add("--tokens-per-second", type=float, default=0.0, help="upstream token rate, 0: unthrottled")
    add("--runs", type=int, default=50, help="samples per latency figure")
    add("--poll-ms", type=float, default=10.0, help="sleep of the plain retrieve loop")
    add("--levels", default="1,16,64,256", help="throughput concurrencies")
    add("--seconds", type=float, default=5.0, help="measured seconds per throughput level")
    add("--streams", type=int, default=1000, help="concurrent streamed runs under load")
    add("--load-tokens", type=int, default=100, help="tokens per streamed run under load")
    add("--load-rate", type=float, default=20.0, help="upstream tokens per second under load")
    add(
        "--client",
        choices=CLIENTS,
        default="sdk",
        help=(
            "load generator's client: the async SDK over its aiohttp transport, over its "
            "default httpx2 client, or its HTTP client alone (least CPU)"
        ),
    )
    add("--lengths", default="10,100,1000", help="thread lengths for the growth section")
    add("--out", type=Path, default=Path("bench/results.json"))
    return parser


def _quick(args: argparse.Namespace) -> None:
    args.runs, args.levels, args.seconds = 3, "1,8", 0.5
    args.streams, args.load_tokens, args.load_rate = 20, 10, 200.0
    args.lengths = "5,40"


def _measures(args: argparse.Namespace) -> dict[str, Measure]:
    levels = tuple(int(x) for x in args.levels.split(","))
    lengths = tuple(int(x) for x in args.lengths.split(","))
    warmup = min(1.0, args.seconds / 2)
    return {
        "floor": lambda up, tl: measure_floor(up.base_url, args.runs),
        "polled": lambda up, tl: measure_polled(up.base_url, tl.base_url, args.runs, args.poll_ms),
        "streamed": lambda up, tl: measure_streaming(up.base_url, tl.base_url, args.runs),
        "tools": lambda up, tl: measure_tool_round_trip(up.base_url, tl.base_url, args.runs),
        "throughput": lambda up, tl: measure_throughput(
            tl.base_url, tl.pid, levels, args.seconds, warmup, args.client
        ),
        "load": lambda up, tl: measure_load(
            tl.base_url, tl.pid, args.streams, args.load_tokens, args.client
        ),
        "growth": lambda up, tl: measure_growth(
            up.base_url, tl.base_url, max(3, args.runs // 5), lengths
        ),
    }


def _upstream_of(section: str, args: argparse.Namespace) -> tuple[float, float]:
    """(latency ms, tokens per second) of the upstream a section runs against."""
    if section == "throughput":
        return 0.0, 0.0
    if section == "load":
        return args.latency_ms, args.load_rate
    return args.latency_ms, args.tokens_per_second


def _backends(args: argparse.Namespace) -> dict[str, str | None]:
    postgres = os.environ.get("THREADLINE_TEST_POSTGRES_URL")
    names = args.backends.split(",") if args.backends else ["sqlite", "postgres"] * 1
    backends: dict[str, str | None] = {}
    for name in names:
        if name == "sqlite":
            backends["sqlite"] = None
        elif name == "postgres" and postgres:
            backends["postgres"] = postgres
        elif name == "postgres" and args.backends:
            raise SystemExit("postgres needs THREADLINE_TEST_POSTGRES_URL")
    return backends


def _python_speed_ms() -> float:
    """How long this machine takes for a fixed bit of pure Python (the best of five), so
    that figures from machines of one kind but unlike speed can be told apart."""
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - began)
    return best * 1000


def _machine() -> dict[str, Any]:
    cores = os.cpu_count() or 0
    return {
        "cores": cores,
        "load_average": os.getloadavg(),
        "python_loop_ms": _python_speed_ms(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "note": f"the upstreams, Threadline and the load generator share these {cores} cores",
    }


def _print_section(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<40} {value}", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    measures = _measures(args)
    results: dict[str, Any] = {
        "machine": _machine(),
        "settings": vars(args) | {"out": str(args.out)},
    }
    machine = results["machine"]
    print(
        f"{machine['note']}; load average {machine['load_average']}; "
        f"1,000,000 Python additions in {machine['python_loop_ms']:.0f} ms"
    )
    for backend, database in _backends(args).items():
        results[backend] = {}
        for section in sections:  # on PostgreSQL, a scratch database for each
            latency, rate = _upstream_of(section, args)
            with ExitStack() as stack:
                upstream = stack.enter_context(fake_upstream(latency, rate))
                url = database and stack.enter_context(postgres_database(database))
                server = stack.enter_context(threadline(upstream.base_url, url))
                figures, rows = measures[section](upstream, server)
            results[backend][section] = figures
            where = (
                f"upstream {latency:g} ms to first token, {rate:g} tokens/s"
                if rate
                else (f"upstream {latency:g} ms to first token, unthrottled")
            )
            _print_section(f"{section} ({backend}; {where})", rows)
    return results


def main() -> None:
    args = _parser().parse_args()
    if args.quick:
        _quick(args)
    results = run(args)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
