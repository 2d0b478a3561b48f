"""The code_interpreter tool inside runs: the model's code runs in the thread's sandboxed
kernel, with the thread's files in `/mnt/data`.

Before a cell, the files of `tool_resources.code_interpreter.file_ids` (assistant and
thread) and the thread's message attachments meant for code_interpreter are copied into
`/mnt/data` under their file names. After it, each figure becomes an `image` output and
every file the cell wrote or changed in `/mnt/data` becomes a File with purpose
`assistants_output`: the next assistant message shows the images as `image_file` content
and turns `sandbox:/mnt/data/<name>` links into `file_path` annotations."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from threadline.blobs import BlobStore
from threadline.ids import new_id, now
from threadline.inference import ModelError
from threadline.protocol.files import FileObject
from threadline.protocol.messages import (
    FilePath,
    FilePathAnnotation,
    ImageFile,
    ImageFileContent,
    Message,
)
from threadline.protocol.runs import (
    CodeInterpreterCall,
    CodeInterpreterToolCall,
    ImageOutput,
    ImageRef,
    LogsOutput,
    Run,
    RunStep,
    ToolCallsDetails,
)
from threadline.protocol.tools import ToolResources
from threadline.sandbox.base import SandboxUnavailableError
from threadline.sandbox.kernel import CellResult, Image
from threadline.sandbox.pool import Kernel, KernelPool, PoolBusyError
from threadline.store.base import Store

__all__ = [
    "CodeInterpreter",
    "annotate_paths",
    "new_images",
]

logger = logging.getLogger("threadline.tools")

MAX_LOG_CHARS = 20_000
MAX_OUTPUT_FILES = 20
MAX_IMAGES = 10
_PATH_LINK = re.compile(r"sandbox:/mnt/data/([^\s)\]\"'<>]+)")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
_RUN_MEMORY = 1024
_CHUNK = 1024 * 1024


def _truncated(text: str) -> str:
    if len(text) <= MAX_LOG_CHARS:
        return text
    half = MAX_LOG_CHARS // 2
    left_out = len(text) - MAX_LOG_CHARS
    return f"{text[:half]}\n... [{left_out} characters left out] ...\n{text[-half:]}"


def _safe_name(filename: str) -> str:
    name = _UNSAFE_NAME.sub("_", Path(filename).name).strip(" .")
    return name or "file"


def _code_file_ids(resources: ToolResources | None) -> list[str]:
    code = resources.code_interpreter if resources is not None else None
    return list(code.file_ids) if code is not None else []


@dataclass(frozen=True)
class _Entry:
    size: int
    mtime_ns: int
    inode: int


def _snapshot(directory: Path) -> dict[str, _Entry]:
    """The regular files directly in `directory` (links and folders are not followed)."""
    found = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode):
                    found[entry.name] = _Entry(info.st_size, info.st_mtime_ns, info.st_ino)
    except OSError:
        return {}
    return found


def _open_regular(path: Path, limit: int) -> BinaryIO | None:
    """A regular, non-empty file the sandbox wrote, opened never through a link it planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    handle = os.fdopen(fd, "rb")
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= limit:
        handle.close()
        return None
    return handle


def _read_regular(path: Path, limit: int) -> bytes | None:
    handle = _open_regular(path, limit)
    if handle is None:
        return None
    with handle:
        return handle.read(limit)


async def _read_chunks(handle: BinaryIO, limit: int) -> AsyncIterator[bytes]:
    """The file's bytes in chunks read on a thread, up to `limit` (it may still grow)."""
    left = limit
    with handle:
        while left > 0 and (chunk := await asyncio.to_thread(handle.read, min(_CHUNK, left))):
            left -= len(chunk)
            yield chunk


def _write_new(path: Path, data: bytes, uid: int | None) -> bool:
    """Write a file into the sandbox's directory; False where something already is there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        if uid is not None:
            os.fchown(handle.fileno(), uid, uid)
    return True


@dataclass
class CodeInterpreter:
    """Answers the model's code_interpreter calls; `pool` None: no sandbox could start
    (`unavailable` says why) and each call fails its run with that reason."""

    store: Store
    blobs: BlobStore
    pool: KernelPool | None
    unavailable: str = ""
    max_output_bytes: int = 512 * 1024 * 1024
    _outputs: OrderedDict[str, dict[str, str]] = field(default_factory=OrderedDict)

    def disable(self, reason: str) -> None:
        """No sandbox can start here: each call fails its run with `reason`."""
        self.pool, self.unavailable = None, reason

    def output_files(self, run_id: str) -> dict[str, str]:
        """The files the run's cells wrote, by name in /mnt/data (file ids)."""
        return dict(self._outputs.get(run_id, {}))

    async def call(self, run: Run, call_id: str, code: str) -> CodeInterpreterToolCall:
        if self.pool is None:
            raise ModelError(
                "server_error", f"The code interpreter sandbox could not start: {self.unavailable}"
            )
        try:
            async with self.pool.kernel(run.thread_id) as kernel:
                await self._place_inputs(run, kernel)
                before = await asyncio.to_thread(_snapshot, kernel.workspace.data)
                assert kernel.session is not None
                result = await kernel.session.execute(code)
                outputs = await self._outputs_of(run, kernel, result, before)
        except PoolBusyError as error:
            outputs = [LogsOutput(logs=f"{error} Try again shortly.")]
        except SandboxUnavailableError as error:
            logger.error("code_interpreter: no sandbox for run %s: %s", run.id, error)
            raise ModelError(
                "server_error", f"The code interpreter sandbox could not start: {error}"
            ) from error
        details = CodeInterpreterCall(input=code, outputs=outputs)
        return CodeInterpreterToolCall(id=call_id, code_interpreter=details)

    async def _input_file_ids(self, run: Run) -> list[str]:
        assistant = await self.store.get_assistant(run.assistant_id)
        thread = await self.store.get_thread(run.thread_id)
        ids = _code_file_ids(assistant.tool_resources if assistant is not None else None)
        ids += _code_file_ids(thread.tool_resources if thread is not None else None)
        for item in await self.store.thread_history(run.thread_id):
            if isinstance(item, Message):
                ids += [
                    attachment.file_id
                    for attachment in item.attachments or []
                    if any(tool.type == "code_interpreter" for tool in attachment.tools)
                ]
        return list(dict.fromkeys(ids))

    async def _place_inputs(self, run: Run, kernel: Kernel) -> None:
        for file_id in await self._input_file_ids(run):
            if file_id in kernel.placed:
                continue
            file = await self.store.get_file(file_id)
            if file is None:
                continue
            data = await self.blobs.read(file_id)
            name = _safe_name(file.filename)
            for candidate in (name, f"{file_id}-{name}"):
                path = kernel.workspace.data / candidate
                if await asyncio.to_thread(_write_new, path, data, kernel.uid):
                    kernel.placed[file_id] = candidate
                    break
            else:
                logger.warning("code_interpreter: could not place %s in /mnt/data", file_id)

    async def _outputs_of(
        self, run: Run, kernel: Kernel, result: CellResult, before: dict[str, _Entry]
    ) -> list[LogsOutput | ImageOutput]:
        outputs: list[LogsOutput | ImageOutput] = []
        figures = 0
        for item in result.outputs:
            if isinstance(item, Image):
                figures += 1
                if figures <= MAX_IMAGES:
                    file = await self._save(f"{new_id('image')}.png", item.png)
                    outputs.append(ImageOutput(image=ImageRef(file_id=file.id)))
            else:
                outputs.append(LogsOutput(logs=_truncated(item.text)))
        if figures > MAX_IMAGES:
            left_out = figures - MAX_IMAGES
            outputs.append(LogsOutput(logs=f"[{left_out} more figures were left out]"))
        after = await asyncio.to_thread(_snapshot, kernel.workspace.data)
        placed = set(kernel.placed.values())
        changed = [
            name
            for name, entry in after.items()
            if before.get(name) != entry and not (name in placed and name not in before)
        ]
        produced = self._outputs.setdefault(run.id, {})
        self._outputs.move_to_end(run.id)
        while len(self._outputs) > _RUN_MEMORY:
            self._outputs.popitem(last=False)
        for name in sorted(changed)[:MAX_OUTPUT_FILES]:
            limit = self.max_output_bytes
            handle = await asyncio.to_thread(_open_regular, kernel.workspace.data / name, limit)
            if handle is not None:
                file = await self._save(name, _read_chunks(handle, limit))
                produced[name] = file.id
        return outputs

    async def _save(self, filename: str, data: bytes | AsyncIterator[bytes]) -> FileObject:
        file_id = new_id("file", "-")
        chunks = _chunks(data) if isinstance(data, bytes) else data
        size = await self.blobs.put(file_id, chunks)
        file = FileObject(
            id=file_id,
            bytes=size,
            created_at=now(),
            filename=filename,
            purpose="assistants_output",
        )
        await self.store.insert_file(file)
        return file

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def annotate_paths(text: str, files: dict[str, str]) -> list[FilePathAnnotation]:
    """`file_path` annotations of the `sandbox:/mnt/data/<name>` links in `text` to files
    the run's cells wrote."""
    annotations = []
    for match in _PATH_LINK.finditer(text):
        file_id = files.get(unquote(match.group(1)))
        if file_id is None:
            continue
        annotations.append(
            FilePathAnnotation(
                text=match.group(0),
                file_path=FilePath(file_id=file_id),
                start_index=match.start(),
                end_index=match.end(),
            )
        )
    return annotations


def new_images(steps: Sequence[RunStep], shown: set[str]) -> list[ImageFileContent]:
    """`image_file` content for the figures of the run's code_interpreter calls that no
    earlier message of the run shows yet."""
    images = []
    for step in steps:
        details = step.step_details
        if not isinstance(details, ToolCallsDetails):
            continue
        for call in details.tool_calls:
            if not isinstance(call, CodeInterpreterToolCall):
                continue
            for output in call.code_interpreter.outputs:
                if isinstance(output, ImageOutput) and output.image.file_id not in shown:
                    shown.add(output.image.file_id)
                    images.append(
                        ImageFileContent(
                            type="image_file", image_file=ImageFile(file_id=output.image.file_id)
                        )
                    )
    return images


async def message_extras(
    store: Store, run: Run, message_id: str, text: str, files: dict[str, str]
) -> tuple[list[FilePathAnnotation], list[ImageFileContent]]:
    """What an assistant message of a run with code_interpreter adds to its text: the
    `file_path` annotations of its links, and the figures no earlier message showed."""
    steps = await store.run_steps(run.id)
    shown: set[str] = set()
    for step in steps:
        details = step.step_details
        if details.type != "message_creation":
            continue
        other = details.message_creation.message_id
        if other == message_id:
            continue
        message = await store.get_message(run.thread_id, other)
        for part in message.content if message is not None else []:
            if isinstance(part, ImageFileContent):
                shown.add(part.image_file.file_id)
    return annotate_paths(text, files), new_images(steps, shown)
