"""The run engine of one process: store, bus, model client, executor and worker."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.config import Settings
from threadline.inference import ModelClient, OpenAIModelClient
from threadline.runs.bus import LocalBus
from threadline.runs.executor import Executor, ExecutorConfig
from threadline.runs.worker import Worker, WorkerConfig
from threadline.store.base import Store

__all__ = ["Engine"]

# How often processes that share a PostgreSQL database look at it for what the
# in-process bus cannot tell them (new runs queued elsewhere, cancels from elsewhere).
_DISTRIBUTED_POLL_SECONDS = 0.5


@dataclass
class Engine:
    store: Store
    bus: LocalBus
    model: ModelClient | None
    worker: Worker

    @classmethod
    def build(cls, settings: Settings, store: Store, model: ModelClient | None = None) -> Engine:
        """The engine for `settings`; `model` replaces the configured upstream (tests)."""
        if model is None and settings.model_base_url:
            model = OpenAIModelClient(
                settings.model_base_url,
                settings.model_api_key,
                timeout=settings.model_timeout_seconds,
                max_retries=settings.model_max_retries,
            )
        distributed = settings.distributed()
        executor_config = ExecutorConfig(
            max_model_calls=settings.max_model_calls,
            status_poll_interval=_DISTRIBUTED_POLL_SECONDS if distributed else 0.0,
        )
        bus = LocalBus()
        executor = Executor(store, model, bus, config=executor_config)
        worker_config = WorkerConfig(
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.run_lease_seconds,
            poll_interval=_DISTRIBUTED_POLL_SECONDS if distributed else 1.0,
        )
        return cls(store, bus, model, Worker(store, executor, bus, worker_config))

    async def close(self) -> None:
        await self.worker.stop()
        close = getattr(self.model, "close", None)
        if close is not None:
            await close()
