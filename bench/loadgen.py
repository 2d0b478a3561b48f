"""The load generator, run in a process of its own so that its CPU is not the server's:
`python -m bench.loadgen throughput|load --base URL ...` prints its figures as JSON.

- throughput: `concurrency` clients each create a thread and a run and poll it to the end
  (`create_and_run_poll`), over and over for `seconds`;
- load: `streams` streamed runs at once (`create_and_run(stream=True)`), each read to its end.

`--client sdk` (the default) makes the requests through the async SDK (`openai.AsyncOpenAI`)
over the aiohttp transport it offers for concurrency (`openai.DefaultAioHttpClient`);
`--client sdk-httpx` through the async SDK over its default HTTP client (httpx2, whose pool
checks every idle connection on each request: at 256 connections the load generator then
costs more CPU than the server it measures, on the same cores); `--client http` makes the same
requests through the SDK's aiohttp-backed HTTP client alone (half the CPU of `sdk`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import warnings
from typing import Any

import httpx2  # the HTTP client of the openai SDK
import openai

from bench.floor import user

__all__ = ["CLIENTS", "main"]


def _sdk(base: str, connections: int, transport: str) -> openai.AsyncOpenAI:
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    if transport == "aiohttp":
        http: httpx2.AsyncClient = openai.DefaultAioHttpClient(limits=limits, timeout=600)
    else:
        http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=600)
    return openai.AsyncOpenAI(base_url=base, api_key="x", http_client=http, max_retries=0)


CLIENTS = ("sdk", "sdk-httpx", "http")
_TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
_POLL_HELPER = {"X-Stainless-Poll-Helper": "true"}


class _Client:
    """One run, or one streamed run, through the async SDK (`sdk`, `sdk-httpx`) or through
    its HTTP client alone (`http`: the same requests, without the SDK's own CPU per run)."""

    def __init__(self, args: argparse.Namespace, connections: int) -> None:
        self.args = args
        transport = "httpx" if args.client == "sdk-httpx" else "aiohttp"
        self.sdk = _sdk(args.base, connections, transport)
        self.http = self.sdk._client  # the SDK's HTTP client (an httpx2 client)
        self.thread: Any = {"messages": [user(args.prompt)]}

    async def close(self) -> None:
        await self.sdk.close()

    async def run(self) -> bool:
        """Create a thread and a run and poll it to its end (`create_and_run_poll`)."""
        if self.args.client != "http":
            run = await self.sdk.beta.threads.create_and_run_poll(
                assistant_id=self.args.assistant, thread=self.thread
            )
            return run.status == "completed"
        body = {"assistant_id": self.args.assistant, "thread": self.thread}
        created = await self.http.post(f"{self.args.base}/threads/runs", json=body)
        run = created.raise_for_status().json()
        url = f"{self.args.base}/threads/{run['thread_id']}/runs/{run['id']}"
        while run["status"] not in _TERMINAL:
            polled = await self.http.get(url, headers=_POLL_HELPER)
            run = polled.raise_for_status().json()
            if run["status"] not in _TERMINAL:
                await asyncio.sleep(int(polled.headers.get("openai-poll-after-ms", 1000)) / 1000)
        return bool(run["status"] == "completed")

    async def stream(self) -> tuple[bool, int]:
        """A streamed thread and run, read to its end: (completed, text deltas)."""
        ok, deltas = False, 0
        if self.args.client != "http":
            events = await self.sdk.beta.threads.create_and_run(
                assistant_id=self.args.assistant, thread=self.thread, stream=True
            )
            async for event in events:
                deltas += event.event == "thread.message.delta"
                ok = ok or event.event == "thread.run.completed"
            return ok, deltas
        body = {"assistant_id": self.args.assistant, "thread": self.thread, "stream": True}
        url = f"{self.args.base}/threads/runs"
        async with self.http.stream("POST", url, json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    deltas += line == "event: thread.message.delta"
                    ok = ok or line == "event: thread.run.completed"
        return ok, deltas


async def _warmed(client: _Client) -> _Client:
    """The client after one run of its own, not counted: the SDK's first use (its lazy
    imports, its response types built) takes longer than a short measurement on a small
    machine."""
    await client.run()
    return client


async def _throughput(args: argparse.Namespace) -> dict[str, Any]:
    client = await _warmed(_Client(args, args.concurrency + 8))
    completed, errors, latencies = 0, 0, []
    start = time.perf_counter()
    counted_from = start + args.warmup
    deadline = counted_from + args.seconds

    async def one_client() -> None:
        nonlocal completed, errors
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                ok = await client.run()
            except (openai.OpenAIError, httpx2.HTTPError):
                ok = False
            ended = time.perf_counter()
            if counted_from <= ended <= deadline:
                if ok:
                    completed += 1
                    latencies.append((ended - began) * 1000)
                else:
                    errors += 1

    await asyncio.gather(*(one_client() for _ in range(args.concurrency)))
    await client.close()
    return {
        "completed": completed,
        "errors": errors,
        "seconds": args.seconds,
        "latencies_ms": latencies,
    }


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    client = await _warmed(_Client(args, args.streams + 8))
    results: list[tuple[bool, int, float]] = []

    async def one_stream() -> None:
        began, deltas, ok = time.perf_counter(), 0, False
        try:
            ok, deltas = await client.stream()
        except (openai.OpenAIError, httpx2.HTTPError):
            ok = False
        results.append((ok, deltas, (time.perf_counter() - began) * 1000))

    started = time.perf_counter()
    await asyncio.gather(*(one_stream() for _ in range(args.streams)))
    elapsed = time.perf_counter() - started
    await client.close()
    return {
        "completed": sum(ok for ok, _, _ in results),
        "errors": sum(not ok for ok, _, _ in results),
        "deltas": sum(d for _, d, _ in results),
        "seconds": elapsed,
        "latencies_ms": [ms for _, _, ms in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("mode", choices=["throughput", "load"])
    parser.add_argument("--base", required=True)
    parser.add_argument("--assistant", required=True)
    parser.add_argument("--prompt", default="hello")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--client", choices=CLIENTS, default="sdk")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the Assistants API is
    work = _throughput if args.mode == "throughput" else _load
    figures = asyncio.run(work(args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["client_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
