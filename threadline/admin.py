"""Admin commands over the store the settings name: list and cancel runs, purge old data.

A cancel goes through the same service as `POST .../cancel`: the run turns cancelling in
the database, and the process executing it sees that at its next status check (within
about a second) and ends it cancelled."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from threadline.blobs import FileBlobStore
from threadline.config import Settings
from threadline.errors import APIError, NotFoundError
from threadline.ids import now
from threadline.protocol.runs import Run
from threadline.runs.bus import LocalBus
from threadline.services import Services
from threadline.store import Store, open_store

__all__ = ["PurgeResult", "cancel_run", "list_runs", "parse_age", "purge"]

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PURGE_BATCH = 500


def parse_age(text: str) -> int:
    """`30d`, `12h`, `90m`, `2w`, `45s` as seconds; ValueError otherwise."""
    match = _AGE.match(text)
    if match is None:
        raise ValueError(f"not an age: {text!r} (use a number and s, m, h, d or w: 30d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _services(store: Store, settings: Settings) -> Services:
    return Services.over(
        store,
        LocalBus(),
        settings.run_expiry_seconds,
        blobs=FileBlobStore(settings.files_dir()),
        max_file_bytes=settings.max_file_bytes,
    )


async def list_runs(settings: Settings, status: str | None, limit: int, out: TextIO) -> int:
    store = await open_store(settings.resolved_database_url())
    try:
        runs = await store.recent_runs(status, limit)
    finally:
        await store.close()
    out.write(f"{'RUN':<32} {'THREAD':<34} {'STATUS':<16} {'CREATED (UTC)':<20} MODEL\n")
    for run in runs:
        out.write(_row(run))
    return 0


def _row(run: Run) -> str:
    created = _when(run.created_at)
    return f"{run.id:<32} {run.thread_id:<34} {run.status:<16} {created:<20} {run.model}\n"


async def cancel_run(settings: Settings, run_id: str, out: TextIO) -> int:
    store = await open_store(settings.resolved_database_url())
    try:
        run = await store.find_run(run_id)
        if run is None:
            raise NotFoundError.for_object("run", run_id)
        cancelled = await _services(store, settings).runs.cancel(run.thread_id, run_id)
    except APIError as error:
        print(f"threadline: {error.message}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    out.write(f"{cancelled.id} {cancelled.status}\n")
    return 0


@dataclass(frozen=True)
class PurgeResult:
    threads: int
    files: int


async def purge(settings: Settings, older_than: int, dry_run: bool, out: TextIO) -> PurgeResult:
    """Delete threads (with their messages, runs and steps) untouched for `older_than`
    seconds and files older than that in no vector store; each thread in a transaction
    of its own. With `dry_run`, only count them."""
    cutoff = now() - older_than
    store = await open_store(settings.resolved_database_url())
    try:
        if dry_run:
            found = await store.purgeable(cutoff, sys.maxsize >> 1)
            result = PurgeResult(len(found.thread_ids), len(found.file_ids))
        else:
            result = await _purge(store, _services(store, settings), cutoff)
    finally:
        await store.close()
    verb = "would delete" if dry_run else "deleted"
    out.write(
        f"threadline: {verb} {result.threads} threads and {result.files} files "
        f"untouched since {_when(cutoff)} UTC\n"
    )
    return result


async def _purge(store: Store, services: Services, cutoff: int) -> PurgeResult:
    threads = files = 0
    while True:
        found = await store.purgeable(cutoff, _PURGE_BATCH)
        deleted = 0
        for thread_id in found.thread_ids:
            deleted += await store.delete_thread(thread_id)
        threads += deleted
        for file_id in found.file_ids:
            if await store.delete_file(file_id):
                await services.files.blobs.delete(file_id)
                deleted += 1
                files += 1
        if not deleted:  # nothing left, or only what others deleted meanwhile
            return PurgeResult(threads, files)
