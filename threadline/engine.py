"""The run engine of one process: store, blob store, bus, model client, executor,
worker, the ingestion worker with its embedder, and the code interpreter's kernels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import openai

from threadline.blobs import BlobStore, FileBlobStore
from threadline.config import Settings
from threadline.inference import ModelClient
from threadline.logs import set_run, set_step
from threadline.metrics import Metrics
from threadline.protocol.runs import Run
from threadline.retrieval.embeddings import Embedder, MiniLMEmbedder, UpstreamEmbedder
from threadline.retrieval.ingestion import Ingester, IngestionConfig, IngestionWorker
from threadline.routing import ModelCatalog, OpenCatalog, Router, routing_config
from threadline.runs import tokens
from threadline.runs.bus import LocalBus
from threadline.runs.events import Event
from threadline.runs.executor import Executor, ExecutorConfig
from threadline.runs.worker import Worker, WorkerConfig
from threadline.sandbox.base import SandboxUnavailableError
from threadline.sandbox.configured import UNSAFE_WARNING, configured_pool
from threadline.services.search import SearchService
from threadline.services.vector_stores import VectorStoreService
from threadline.store.base import Claim, Store
from threadline.tools.builtin import BuiltinTools
from threadline.tools.code_interpreter import CodeInterpreter
from threadline.tools.file_search import FileSearcher

__all__ = ["Engine", "configured_embedder"]

logger = logging.getLogger("threadline.engine")

# How often processes that share a PostgreSQL database look at it for what the
# in-process bus cannot tell them (new runs queued elsewhere, cancels from elsewhere).
_DISTRIBUTED_POLL_SECONDS = 0.5
# How often one process on SQLite re-reads the statuses of the runs it holds: the admin
# CLI (`threadline runs cancel`) changes them from another process.
_LOCAL_WATCH_SECONDS = 1.0


@dataclass
class Engine:
    store: Store
    blobs: BlobStore
    bus: LocalBus
    model: ModelClient | None
    worker: Worker
    embedder: Embedder
    ingestion: IngestionWorker
    models: ModelCatalog = field(default_factory=OpenCatalog)
    metrics: Metrics = field(default_factory=Metrics)
    distributed: bool = False
    keepalive_seconds: float = 15.0
    code_interpreter: CodeInterpreter | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: Store,
        model: ModelClient | None = None,
        blobs: BlobStore | None = None,
        embedder: Embedder | None = None,
    ) -> Engine:
        """The engine for `settings`; `model` replaces the configured upstreams (and their
        routing: every model name passes), `blobs` the data directory's files and
        `embedder` the local MiniLM model (tests)."""
        metrics = Metrics()
        models: ModelCatalog = OpenCatalog()
        if model is None:
            routing = routing_config(settings)
            if routing is not None:
                model = models = Router(routing, observe=metrics.upstream_call)
        distributed = settings.distributed()
        executor_config = ExecutorConfig(max_model_calls=settings.max_model_calls)
        bus = LocalBus()
        embedder = embedder if embedder is not None else configured_embedder(settings)
        search = SearchService(store, embedder, VectorStoreService(store))
        if blobs is None:
            blobs = FileBlobStore(settings.files_dir())
        code_interpreter = None
        if settings.code_interpreter_enabled:
            code_interpreter = CodeInterpreter(
                store,
                blobs,
                configured_pool(settings),
                max_output_bytes=settings.max_file_bytes,
            )
        tools = BuiltinTools(
            file_search=FileSearcher(store, search), code_interpreter=code_interpreter
        )
        executor = _RunContextExecutor(store, model, bus, tools, executor_config)
        worker_config = WorkerConfig(
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.run_lease_seconds,
            poll_interval=_DISTRIBUTED_POLL_SECONDS if distributed else 1.0,
            watch_interval=_DISTRIBUTED_POLL_SECONDS if distributed else _LOCAL_WATCH_SECONDS,
        )
        listener = _status_listener(bus, metrics)
        worker = Worker(store, executor, bus, worker_config, listener=listener)
        keepalive = settings.stream_keepalive_seconds
        ingestion = IngestionWorker(
            Ingester(store, blobs, embedder, worker.owner),
            IngestionConfig(lease_seconds=settings.ingestion_lease_seconds),
        )
        return cls(
            store,
            blobs,
            bus,
            model,
            worker,
            embedder,
            ingestion,
            models=models,
            metrics=metrics,
            distributed=distributed,
            keepalive_seconds=keepalive,
            code_interpreter=code_interpreter,
        )

    @property
    def poll_interval(self) -> float | None:
        """How often a waiting request re-reads a run, when other processes may change it."""
        return self.worker.config.poll_interval if self.distributed else None

    async def start(self, claim: bool) -> None:
        """Start the worker (claiming queued runs when `claim`), after loading what the
        first run would otherwise wait for."""
        await asyncio.to_thread(tokens.preload)
        if claim and self.code_interpreter is not None:
            await self._check_sandbox(self.code_interpreter)
        await self.worker.start(claim=claim)
        if claim:
            await self.ingestion.start()

    async def _check_sandbox(self, code_interpreter: CodeInterpreter) -> None:
        """Say at start whether code_interpreter can run code here, and why not."""
        pool = code_interpreter.pool
        if pool is None:
            return
        if pool.sandbox.name == "unsafe-no-sandbox":
            logger.warning(UNSAFE_WARNING)
        try:
            await asyncio.to_thread(pool.sandbox.check)
        except SandboxUnavailableError as error:
            logger.warning(
                "code_interpreter cannot run code here (%s); runs that call it will fail. "
                "Set THREADLINE_CODE_INTERPRETER_ENABLED=false to offer it as unavailable.",
                error,
            )
            code_interpreter.disable(str(error))

    async def close(self) -> None:
        await self.ingestion.stop()
        await self.worker.stop()
        if self.code_interpreter is not None:
            await self.code_interpreter.close()
        for part in (self.model, self.embedder):
            close = getattr(part, "close", None)
            if close is not None:
                await close()


def configured_embedder(settings: Settings) -> Embedder:
    """The local MiniLM model, or `THREADLINE_EMBEDDINGS_MODEL` at the upstream's
    `/v1/embeddings` when that is set."""
    if not settings.embeddings_model:
        return MiniLMEmbedder()
    base_url = settings.embeddings_base_url or settings.model_base_url
    if not base_url:
        raise ValueError(
            "THREADLINE_EMBEDDINGS_MODEL needs THREADLINE_EMBEDDINGS_BASE_URL "
            "(or THREADLINE_MODEL_BASE_URL)."
        )
    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key=settings.embeddings_api_key or settings.model_api_key or "none",
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )
    dimensions = settings.embeddings_dimensions
    return UpstreamEmbedder(
        client, settings.embeddings_model, dimensions, send_dimensions=dimensions > 0
    )


class _RunContextExecutor(Executor):
    """The executor, marking the log lines of the task that executes a run with its ids
    (each run executes in a task of its own)."""

    def execute(self, claim: Claim, watched: bool = True) -> AsyncIterator[Event]:
        set_run(claim.run.id, claim.run.thread_id)
        return super().execute(claim, watched)


def _status_listener(bus: LocalBus, metrics: Metrics) -> Callable[[str, Event], None]:
    def listen(run_id: str, event: Event) -> None:
        name = event.event
        if name.startswith("thread.run.") and not name.startswith("thread.run.step"):
            run = event.data if isinstance(event.data, Run) else None
            bus.run_updated(run_id, run)
            if run is not None:
                metrics.run_status(run)
        elif name == "thread.run.step.created":
            set_step(getattr(event.data, "id", ""))

    return listen
