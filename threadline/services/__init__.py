"""The rules of each resource, over a `Store`."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.blobs import BlobStore, MemoryBlobStore
from threadline.config import DEFAULT_MAX_FILE_BYTES
from threadline.retrieval.embeddings import Embedder, MiniLMEmbedder
from threadline.routing import ModelCatalog, OpenCatalog
from threadline.runs.bus import Bus
from threadline.services.assistants import AssistantService
from threadline.services.attached_files import AttachedFiles
from threadline.services.files import FileService
from threadline.services.messages import MessageService
from threadline.services.runs import RunService
from threadline.services.search import SearchService
from threadline.services.steps import StepService
from threadline.services.threads import ThreadService
from threadline.services.vector_stores import VectorStoreService
from threadline.store.base import Store

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService
    steps: StepService
    files: FileService
    vector_stores: VectorStoreService
    search: SearchService

    @classmethod
    def over(
        cls,
        store: Store,
        bus: Bus,
        run_expiry_seconds: int,
        poll_interval: float | None = None,
        *,
        blobs: BlobStore | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        embedder: Embedder | None = None,
        models: ModelCatalog | None = None,
    ) -> Services:
        """The services over `store`; files' bytes go to `blobs` (in memory when None:
        tests that upload nothing); searches embed with `embedder` (MiniLM when None); runs and
        assistants may name only the models `models` routes (any when None)."""
        vector_stores = VectorStoreService(store)
        embedder = embedder if embedder is not None else MiniLMEmbedder()
        attached = AttachedFiles(store, vector_stores)
        catalog = models if models is not None else OpenCatalog()
        return cls(
            AssistantService(store, attached, catalog),
            ThreadService(store, attached),
            MessageService(store, attached),
            RunService(
                store, bus, run_expiry_seconds, poll_interval, attached=attached, models=catalog
            ),
            StepService(store),
            FileService(store, blobs if blobs is not None else MemoryBlobStore(), max_file_bytes),
            vector_stores,
            SearchService(store, embedder, vector_stores),
        )
