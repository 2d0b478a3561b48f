"""The domain-level `Store` protocol every backend implements, and what they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, Protocol, TypeVar

from threadline.errors import InvalidRequestError
from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.files import FileObject
from threadline.protocol.messages import Message
from threadline.protocol.runs import Run, RunStep
from threadline.protocol.threads import Thread
from threadline.protocol.vector_stores import Attributes, FileBatch, VectorStore, VectorStoreFile

__all__ = [
    "Claim",
    "FileClaim",
    "FileStats",
    "Lease",
    "NearChunk",
    "Page",
    "Purgeable",
    "RunEnding",
    "Store",
    "StoredChunk",
    "ThreadBusyError",
    "cursor_not_found",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, in the order asked for."""

    data: list[T]
    has_more: bool


class ThreadBusyError(Exception):
    """The thread has an active run; nothing was written."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"thread {thread_id} has an active run {run_id}")
        self.thread_id = thread_id
        self.run_id = run_id


@dataclass(frozen=True)
class Lease:
    """Who holds a run, and until when (epoch seconds)."""

    owner: str
    until: float


@dataclass(frozen=True)
class Claim:
    """A run leased to one executor. `recoveries` counts claims of this run made after
    an earlier holder's lease lapsed mid-run (its process died). A `born` claim is a run
    stored already in progress and leased by the process that created it; `history`, when
    its creator knows it (a thread created with the run), is its thread's whole history. A
    `resumed` claim is a run stored in progress and leased by the process that took its
    tool outputs."""

    run: Run
    recoveries: int
    born: bool = False
    history: Sequence[Message] | None = None
    resumed: bool = False

    @property
    def recovered(self) -> bool:
        return self.run.status == "in_progress" and not (self.born or self.resumed)


@dataclass(frozen=True)
class RunEnding:
    """What `Store.end_run` wrote: the run, and the steps and messages it closed."""

    run: Run
    steps: list[RunStep]
    messages: list[Message]


class StoredChunk(NamedTuple):
    """One chunk of a vector store file: its text, tokens and embedding (float32 bytes),
    and the model that made the embedding (empty: the local default model). A named tuple:
    a search reads thousands at once, and tuples are quick to make."""

    vector_store_id: str
    file_id: str
    index: int  # type: ignore[assignment]  # the chunk's position; shadows tuple.index
    text: str
    token_count: int
    vector: bytes
    model: str = ""


@dataclass(frozen=True)
class NearChunk:
    """A chunk found by vector search: its key and the cosine similarity of its vector to
    the query's."""

    vector_store_id: str
    file_id: str
    index: int
    similarity: float


@dataclass(frozen=True)
class FileStats:
    """A vector store's (or a batch's) files: how many in each status, and their bytes."""

    counts: dict[str, int]
    usage_bytes: int = 0


@dataclass(frozen=True)
class FileClaim:
    """An in_progress vector store file leased to one ingester; `attempts` counts claims."""

    file: VectorStoreFile
    attempts: int


@dataclass(frozen=True)
class Purgeable:
    """What retention may remove: threads untouched since a cutoff, and files created
    before it that no vector store holds; oldest first."""

    thread_ids: list[str]
    file_ids: list[str]


def cursor_not_found(param: str, object_id: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid '{param}': no object with id '{object_id}' was found in this list.",
        param=param,
        code="invalid_value",
    )


class Store(Protocol):
    """Persistence for every resource. Objects created later sort after earlier ones,
    even within the same second. Lists raise `InvalidRequestError` for a cursor id that
    is not in the list."""

    async def close(self) -> None: ...

    # Assistants
    async def insert_assistant(self, assistant: Assistant) -> None: ...
    async def get_assistant(self, assistant_id: str) -> Assistant | None: ...
    async def replace_assistant(self, assistant: Assistant) -> bool: ...
    async def delete_assistant(self, assistant_id: str) -> bool: ...
    async def list_assistants(self, query: ListQuery) -> Page[Assistant]: ...

    # Threads: inserted together with their first messages; deleting one removes
    # everything that belongs to it.
    async def insert_thread(self, thread: Thread, messages: Sequence[Message] = ()) -> None: ...
    async def get_thread(self, thread_id: str) -> Thread | None: ...
    async def replace_thread(self, thread: Thread) -> bool: ...
    async def delete_thread(self, thread_id: str) -> bool: ...

    # Messages: insert_message returns False when the thread does not exist, and raises
    # ThreadBusyError when a message from outside a run (run_id None) meets an active run.
    async def insert_message(self, message: Message) -> bool: ...
    async def get_message(self, thread_id: str, message_id: str) -> Message | None: ...
    async def replace_message(self, message: Message) -> bool: ...
    async def delete_message(self, thread_id: str, message_id: str) -> bool: ...
    async def list_messages(
        self, thread_id: str, query: ListQuery, run_id: str | None = None
    ) -> Page[Message]: ...

    # Runs. The thread lock (one active run per thread) is enforced here, atomically.
    async def insert_run(
        self,
        run: Run,
        messages: Sequence[Message] = (),
        thread: Thread | None = None,
        lease: Lease | None = None,
    ) -> bool:
        """Insert `thread` (if given), then `messages`, then `run`, in one transaction;
        with `lease`, the run is born claimed by its owner (a process that executes the run
        itself). False when the thread does not exist; ThreadBusyError when it has an
        active run."""
        ...

    async def get_run(self, thread_id: str, run_id: str) -> Run | None: ...
    async def list_runs(self, thread_id: str, query: ListQuery) -> Page[Run]: ...
    async def update_run(
        self, run_id: str, change: Callable[[Run], Run], *, release: bool = False
    ) -> Run | None:
        """Apply `change` to the current run and store its result atomically (None when
        the run does not exist); with `release`, its lease is let go in the same write (its
        executor stops there: the run waits for its tool outputs). An exception from
        `change` aborts without writing.
        `change` (like every callback given to the store) may run on a database thread,
        inside the transaction: keep it quick, and away from the event loop's objects."""
        ...

    async def resume_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        step: tuple[str, Callable[[RunStep], RunStep]] | None = None,
        lease: Lease | None = None,
    ) -> Run | None:
        """Tool outputs taken: `change` applied to the run and then, when `step` is given,
        its change to that step, in one transaction; the run is held under `lease` (the
        process that took the outputs executes the run itself), or by no one. None when the
        run does not exist; an exception from a change aborts without writing."""
        ...

    async def end_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        close_step: Callable[[RunStep], RunStep],
        close_message: Callable[[Message], Message],
        created: tuple[RunStep, Message] | None = None,
    ) -> RunEnding | None:
        """In one transaction: `change` the run (as `update_run`), then `close_step` each of
        its in-progress steps and `close_message` each of its in-progress messages. So a
        client never sees an ended run with open steps. `created`: a message-creation step
        and its message not stored yet, stored here closed like the others (last in the
        ending's lists); nothing is stored when the run is gone."""
        ...

    async def claim_next_run(self, owner: str, now: float, lease_seconds: float) -> Claim | None:
        """Lease the oldest run that needs an executor: queued or cancelling with no live
        lease, or in_progress whose lease lapsed (then `recoveries` goes up by one)."""
        ...

    async def claim_run(
        self, run_id: str, owner: str, now: float, lease_seconds: float
    ) -> Claim | None:
        """`claim_next_run` for one given run."""
        ...

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], now: float, lease_seconds: float
    ) -> set[str]:
        """Extend `owner`'s leases; returns the ids it still holds."""
        ...

    async def release_run(self, run_id: str, owner: str) -> None: ...
    async def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The current status of each of these runs that exists."""
        ...

    async def runs_to_expire(self, now: int, limit: int) -> list[Run]:
        """Active runs whose `expires_at` has passed, oldest first."""
        ...

    # Run steps
    async def insert_step(self, step: RunStep, message: Message | None = None) -> None:
        """Insert the step; with `message` (the message it creates), insert that too, in
        the same write (as `insert_message` would: nothing when the thread is gone)."""
        ...

    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep | None: ...
    async def update_step(
        self, step_id: str, change: Callable[[RunStep], RunStep]
    ) -> RunStep | None: ...
    async def delete_step(self, step_id: str) -> bool: ...
    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page[RunStep]: ...
    async def run_steps(self, run_id: str) -> list[RunStep]:
        """Every step of a run, in creation order."""
        ...

    async def thread_history(self, thread_id: str) -> list[Message | RunStep]:
        """The thread's messages and its runs' tool_calls steps, in creation order."""
        ...

    # Files: their metadata only (the bytes live in a `BlobStore`).
    async def insert_file(self, file: FileObject) -> None: ...
    async def get_file(self, file_id: str) -> FileObject | None: ...
    async def list_files(
        self, purpose: str | None, query: ListQuery, now: int | None = None
    ) -> Page[FileObject]:
        """Files of `purpose` (all when None); with `now`, none that expired by then. A
        cursor may name any file."""
        ...

    async def delete_file(self, file_id: str) -> bool: ...

    # Vector stores. Deleting one removes its files, batches and chunks.
    async def insert_vector_store(
        self, store: VectorStore, files: Sequence[VectorStoreFile] = ()
    ) -> None: ...
    async def get_vector_store(self, vector_store_id: str) -> VectorStore | None: ...
    async def replace_vector_store(self, store: VectorStore) -> bool: ...
    async def delete_vector_store(self, vector_store_id: str) -> bool: ...
    async def list_vector_stores(self, query: ListQuery) -> Page[VectorStore]: ...
    async def vector_store_stats(
        self, vector_store_id: str, batch_id: str | None = None
    ) -> FileStats:
        """Its files (only the batch's, with `batch_id`) by status, and their usage bytes."""
        ...

    # Vector store files (keyed by vector store and file id) and file batches.
    async def insert_vector_store_files(
        self, files: Sequence[VectorStoreFile], batch: FileBatch | None = None
    ) -> bool:
        """Add (or re-add, replacing) files to their vector store, with the batch they came
        in; False when the vector store does not exist."""
        ...

    async def get_vector_store_file(
        self, vector_store_id: str, file_id: str
    ) -> VectorStoreFile | None: ...
    async def list_vector_store_files(
        self,
        vector_store_id: str,
        query: ListQuery,
        status: str | None = None,
        batch_id: str | None = None,
    ) -> Page[VectorStoreFile]: ...
    async def delete_vector_store_file(self, vector_store_id: str, file_id: str) -> bool:
        """Remove the file from the vector store, with its chunks."""
        ...

    async def get_file_batch(self, vector_store_id: str, batch_id: str) -> FileBatch | None: ...
    async def cancel_file_batch(self, vector_store_id: str, batch_id: str) -> FileBatch | None:
        """Mark the batch cancelled and its in_progress files cancelled, in one transaction."""
        ...

    # Ingestion: the database is the queue of in_progress vector store files.
    async def claim_vector_store_file(
        self, owner: str, now: float, lease_seconds: float
    ) -> FileClaim | None:
        """Lease the oldest in_progress vector store file with no live lease."""
        ...

    async def finish_vector_store_file(
        self, file: VectorStoreFile, chunks: Sequence[StoredChunk], owner: str
    ) -> bool:
        """Store `file` (now completed or failed) with its chunks, if `owner` still holds it
        and it is still in_progress; False (nothing written) otherwise."""
        ...

    async def renew_vector_store_file_lease(
        self, vector_store_id: str, file_id: str, owner: str, now: float, lease_seconds: float
    ) -> bool:
        """Extend `owner`'s lease on a file it is ingesting; False when it no longer holds
        it or the file is no longer in_progress (cancelled, removed): stop ingesting it."""
        ...

    async def searchable_files(
        self, vector_store_ids: Sequence[str]
    ) -> list[tuple[VectorStoreFile, FileObject]]:
        """These vector stores' completed files whose File still exists, with that File."""
        ...

    async def vector_store_chunks(
        self, vector_store_ids: Sequence[str], *, vectors: bool = True
    ) -> list[StoredChunk]:
        """Every chunk of these vector stores' completed files (`vector` may be left empty
        unless `vectors`: SQL stores leave it out)."""
        ...

    @property
    def vector_index(self) -> str:
        """What answers `nearest_chunks`: "sqlite-vec", "pgvector" or "numpy" (an exact
        scan of the chunk vectors, the fallback)."""
        ...

    async def nearest_chunks(
        self,
        vector_store_ids: Sequence[str],
        model: str,
        vector: bytes,
        limit: int,
        file_ids: Sequence[str] | None = None,
    ) -> list[NearChunk]:
        """The `limit` chunks of these vector stores' completed files whose vectors (made
        by `model`, of the query `vector`'s dimensions: float32 bytes) are nearest to it
        by cosine, nearest first; only chunks of `file_ids` when given."""
        ...

    async def update_vector_store_file_attributes(
        self, vector_store_id: str, file_id: str, attributes: Attributes
    ) -> VectorStoreFile | None:
        """Replace the file's attributes (None when it is not in the vector store)."""
        ...

    async def vector_store_file_chunks(
        self, vector_store_id: str, file_id: str
    ) -> list[StoredChunk]:
        """One vector store file's chunks, in order (none until it is completed)."""
        ...

    # Operations: the admin CLI, `/readyz` and `/metrics`.
    async def find_run(self, run_id: str) -> Run | None:
        """A run by its id alone, in whichever thread."""
        ...

    async def recent_runs(self, status: str | None, limit: int) -> list[Run]:
        """Runs of every thread, newest first; only those in `status` when given."""
        ...

    async def count_active_runs(self) -> dict[str, int]:
        """How many runs are in each active status (queued, in_progress, requires_action,
        cancelling); statuses with none are left out. Cheap: it reads the active runs only."""
        ...

    async def purgeable(self, before: int, limit: int) -> Purgeable:
        """Threads created before `before` (epoch seconds) with no message or run created
        since and no active run, and files created before it in no vector store; at most
        `limit` of each, oldest first. Threads go with `delete_thread` (one transaction
        each, everything in them included)."""
        ...

    async def not_ready(self) -> str | None:
        """Why the store cannot serve now (unreachable, schema not at the newest
        migration), or None when it can."""
        ...
