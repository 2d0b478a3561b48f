"""Ingestion: in_progress vector store files, taken from the store under a lease, read,
extracted, chunked, embedded and stored with their chunks, then marked completed (or
failed with `last_error`). The database is the queue: a file whose ingester died is taken
again once its lease lapses, a bounded number of times.

While a file is ingested its lease is renewed by a heartbeat (every `heartbeat_interval`,
at most a third of the lease), so a long file is never taken by a second ingester, and the
lease can be short enough that a dead ingester's file is taken again soon. The heartbeat also
notices a file that is no longer in_progress (its batch cancelled, the file removed from its
vector store) and stops its ingestion there: embedding goes in slices of `EMBED_SLICE`
chunks, so the work ends within one slice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass

import numpy as np

from threadline.blobs import BlobNotFoundError, BlobStore
from threadline.ids import new_id
from threadline.protocol.vector_stores import FileError, VectorStoreFile
from threadline.retrieval.chunking import ChunkingStrategy
from threadline.retrieval.embeddings import Embedder, embedder_name
from threadline.retrieval.extract import ExtractionError, UnsupportedFile, extract_text
from threadline.store.base import FileClaim, Store, StoredChunk

__all__ = ["Ingester", "IngestionConfig", "IngestionError", "IngestionWorker"]

logger = logging.getLogger("threadline.ingestion")


# Chunks embedded per call: a cancelled file's ingestion stops within one slice.
EMBED_SLICE = 32
HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True)
class IngestionConfig:
    # Renewed while the file is ingested: a lapsed lease means a dead ingester.
    lease_seconds: float = 30.0
    poll_interval: float = 0.5
    max_attempts: int = 3

    @property
    def heartbeat_interval(self) -> float:
        return min(HEARTBEAT_SECONDS, self.lease_seconds / 3)


class IngestionError(Exception):
    """Why a file cannot be ingested, as its `last_error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = FileError.model_validate({"code": code, "message": message})


class Ingester:
    """Ingests one claimed file at a time."""

    def __init__(
        self, store: Store, blobs: BlobStore, embedder: Embedder, owner: str | None = None
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.embedder = embedder
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{new_id('ingest')[7:15]}"

    async def ingest(self, claim: FileClaim, max_attempts: int = 3) -> bool:
        """Ingest a claimed file; False when its lease was lost meanwhile."""
        file = claim.file
        try:
            if claim.attempts > max_attempts:
                raise IngestionError("server_error", "Ingesting the file failed repeatedly.")
            chunks = await self._chunks(file)
        except IngestionError as failure:
            failed = file.model_copy(update={"status": "failed", "last_error": failure.error})
            return await self.store.finish_vector_store_file(failed, (), self.owner)
        except Exception:
            logger.exception("ingesting file %s failed", file.id)
            error = FileError(code="server_error", message="The server failed to ingest the file.")
            failed = file.model_copy(update={"status": "failed", "last_error": error})
            return await self.store.finish_vector_store_file(failed, (), self.owner)
        usage = sum(len(c.text.encode()) + len(c.vector) for c in chunks)
        done = file.model_copy(update={"status": "completed", "usage_bytes": usage})
        return await self.store.finish_vector_store_file(done, chunks, self.owner)

    async def _text(self, file_id: str) -> str:
        meta = await self.store.get_file(file_id)
        if meta is None:
            raise IngestionError("invalid_file", f"No file found with id '{file_id}'.")
        try:
            data = await self.blobs.read(file_id)
        except BlobNotFoundError:
            raise IngestionError("server_error", "The file's content is missing.") from None
        try:
            return await asyncio.to_thread(extract_text, meta.filename, data)
        except UnsupportedFile as exc:
            raise IngestionError("unsupported_file", str(exc)) from None
        except ExtractionError as exc:
            raise IngestionError("invalid_file", str(exc)) from None

    async def _chunks(self, file: VectorStoreFile) -> list[StoredChunk]:
        text = await self._text(file.id)
        strategy = ChunkingStrategy.from_param(file.chunking_strategy)
        pieces = await asyncio.to_thread(strategy.split, text)
        if not pieces:
            raise IngestionError("invalid_file", "The file contains no text to search.")
        texts = [piece.text for piece in pieces]
        slices = [
            await self.embedder.embed(texts[first : first + EMBED_SLICE])
            for first in range(0, len(texts), EMBED_SLICE)
        ]
        vectors = np.concatenate(slices) if len(slices) > 1 else slices[0]
        return [
            StoredChunk(
                file.vector_store_id,
                file.id,
                piece.index,
                piece.text,
                piece.token_count,
                vectors[i].tobytes(),
                embedder_name(self.embedder),
            )
            for i, piece in enumerate(pieces)
        ]


class IngestionWorker:
    """A loop that claims in_progress vector store files and ingests them, one at a time
    (embedding already uses every core)."""

    def __init__(self, ingester: Ingester, config: IngestionConfig | None = None) -> None:
        self.ingester = ingester
        self.config = config or IngestionConfig()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="threadline-ingestion")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> bool:
        """Claim and ingest one file; False when there was none."""
        config = self.config
        claim = await self.ingester.store.claim_vector_store_file(
            self.ingester.owner, time.time(), config.lease_seconds
        )
        if claim is None:
            return False
        task = asyncio.create_task(self.ingester.ingest(claim, config.max_attempts))
        try:
            await self._hold(claim.file, task)
        finally:
            if not task.done():  # the worker is stopping, or the heartbeat failed
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return True

    async def _hold(self, file: VectorStoreFile, task: asyncio.Task[bool]) -> None:
        """Renew the file's lease until `task` (its ingestion) ends; stop the task when the
        file is no longer this ingester's to finish."""
        store, config = self.ingester.store, self.config
        while True:
            await asyncio.wait({task}, timeout=config.heartbeat_interval)
            if task.done():
                task.result()
                return
            held = await store.renew_vector_store_file_lease(
                file.vector_store_id,
                file.id,
                self.ingester.owner,
                time.time(),
                config.lease_seconds,
            )
            if not held:
                logger.info(
                    "file %s of %s is no longer in progress here (cancelled, removed or "
                    "taken over): its ingestion stopped",
                    file.id,
                    file.vector_store_id,
                )
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return

    async def _loop(self) -> None:
        while True:
            try:
                found = await self.run_once()
            except Exception:
                logger.exception("ingestion failed; retrying")
                found = False
            if not found:
                await asyncio.sleep(self.config.poll_interval)
