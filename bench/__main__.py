"""`python -m bench`: start a fake upstream and Threadline, measure, print, write JSON."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from bench.servers import fake_upstream, threadline
from bench.streaming import measure_streaming


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="upstream time to first token"
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    backends: dict[str, str | None] = {"sqlite": None}
    if os.environ.get("THREADLINE_TEST_POSTGRES_URL"):
        backends["postgres"] = os.environ["THREADLINE_TEST_POSTGRES_URL"]
    results: dict[str, object] = {}
    with fake_upstream(latency_ms=args.latency_ms) as upstream:
        for name, database in backends.items():
            with threadline(upstream.base_url, database) as server:
                figures = measure_streaming(upstream.base_url, server.base_url, args.runs)
            results[name] = asdict(figures)
            print(f"\nstreaming ({name}, upstream time to first token {args.latency_ms:g} ms)")
            for label, value in figures.table():
                print(f"  {label:<34} {value}")
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
