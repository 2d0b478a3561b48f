"""The code interpreter's pieces that need no sandbox: output parsing, links to written
files, figures in messages, safe file handling in /mnt/data, settings, the seccomp filter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from threadline.config import Settings
from threadline.protocol.runs import (
    CodeInterpreterCall,
    CodeInterpreterToolCall,
    ImageOutput,
    ImageRef,
    LogsOutput,
    RunStep,
    ToolCallsDetails,
)
from threadline.sandbox.configured import configured_pool
from threadline.sandbox.kernel import CellResult, Image, Log, _add_output, _cause
from threadline.sandbox.unsafe import UnsafeLocalSandbox
from threadline.tools import code_interpreter as tool
from threadline.tools.code_interpreter import annotate_paths, new_images


def message(kind: str, **content: Any) -> dict[str, Any]:
    return {"msg_type": kind, "content": content, "parent_header": {}}


def test_iopub_messages_become_logs_and_images() -> None:
    result = CellResult()
    assert not _add_output(result, message("status", execution_state="busy"))
    _add_output(result, message("stream", name="stdout", text="a\n"))
    _add_output(result, message("stream", name="stderr", text="b\n"))
    _add_output(result, message("display_data", data={"image/png": "iVBORw0KGgo="}))
    _add_output(result, message("execute_result", data={"text/plain": "3"}))
    _add_output(result, message("error", traceback=["\x1b[31mBoom\x1b[0m", "ValueError: x"]))
    assert _add_output(result, message("status", execution_state="idle"))
    assert result.outputs == [
        Log("a\nb\n"),
        Image(b"\x89PNG\r\n\x1a\n"),
        Log("3\nBoom\nValueError: x\n"),
    ]


def test_why_a_kernel_died() -> None:
    assert "memory" in _cause(137)
    assert "CPU time" in _cause(128 + 24)
    assert "CPU time" in _cause(-24)
    assert _cause(3) == "exit status 3"


def test_links_to_written_files_become_file_path_annotations() -> None:
    text = "See [a](sandbox:/mnt/data/out%20put.csv) and sandbox:/mnt/data/gone.txt."
    [annotation] = annotate_paths(text, {"out put.csv": "file-1"})
    assert annotation.file_path.file_id == "file-1"
    assert annotation.text == "sandbox:/mnt/data/out%20put.csv"
    assert text[annotation.start_index : annotation.end_index] == annotation.text


def _step(*file_ids: str) -> RunStep:
    outputs: list[LogsOutput | ImageOutput] = [LogsOutput(logs="x")]
    outputs += [ImageOutput(image=ImageRef(file_id=f)) for f in file_ids]
    call = CodeInterpreterToolCall(
        id="call_1", code_interpreter=CodeInterpreterCall(input="1", outputs=outputs)
    )
    return RunStep.model_validate(
        {
            "id": "step_1",
            "created_at": 0,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": "run_1",
            "type": "tool_calls",
            "status": "completed",
            "step_details": ToolCallsDetails(tool_calls=[call]),
            "metadata": {},
        }
    )


def test_figures_not_shown_yet_become_image_file_content() -> None:
    images = new_images([_step("file-a", "file-b"), _step("file-c")], {"file-a"})
    assert [i.image_file.file_id for i in images] == ["file-b", "file-c"]


def test_file_names_are_made_safe() -> None:
    assert tool._safe_name("../../etc/passwd") == "passwd"
    assert tool._safe_name("a b$c.csv") == "a b_c.csv"
    assert tool._safe_name("..") == "file"


def test_files_are_read_and_written_never_through_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("host secret")
    data = tmp_path / "data"
    data.mkdir()
    (data / "link").symlink_to(outside)
    (data / "real.txt").write_text("ok")
    assert set(tool._snapshot(data)) == {"real.txt"}
    assert tool._read_regular(data / "link", 100) is None
    assert tool._read_regular(data / "real.txt", 100) == b"ok"
    assert tool._read_regular(data / "real.txt", 1) is None
    assert tool._read_regular(data / "missing", 1) is None
    assert not tool._write_new(data / "link", b"overwritten", None)
    assert outside.read_text() == "host secret"
    assert tool._write_new(data / "new.csv", b"1", None)
    assert not tool._write_new(data / "new.csv", b"2", None)


def test_long_logs_are_cut_in_the_middle() -> None:
    text = "a" * tool.MAX_LOG_CHARS + "b" * 100
    cut = tool._truncated(text)
    assert len(cut) < len(text)
    assert cut.startswith("a")
    assert cut.endswith("b" * 100)
    assert "characters left out" in cut


def test_settings_choose_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(code_interpreter_memory_mb=256, code_interpreter_idle_seconds=5)
    pool = configured_pool(settings)
    assert pool.sandbox.name == "bubblewrap"
    assert pool.limits.memory_mb == 256
    assert pool.idle_seconds == 5
    monkeypatch.setenv("THREADLINE_CODE_INTERPRETER_UNSAFE_NO_SANDBOX", "true")
    assert isinstance(configured_pool(Settings()).sandbox, UnsafeLocalSandbox)


def test_the_seccomp_filter_compiles() -> None:
    seccomp = pytest.importorskip("pyseccomp")
    del seccomp
    from threadline.sandbox.seccomp import filter_bpf

    program = filter_bpf()
    assert len(program) % 8 == 0
    assert len(program) > 8 * 20


def test_a_missing_venv_is_reported(tmp_path: Path) -> None:
    from threadline.sandbox.base import SandboxUnavailableError
    from threadline.sandbox.bubblewrap import BubblewrapSandbox

    with pytest.raises(SandboxUnavailableError, match=r"bubblewrap|make sandbox"):
        BubblewrapSandbox(tmp_path / "no-venv").check()
    with pytest.raises(SandboxUnavailableError, match="not installed"):
        BubblewrapSandbox(tmp_path, bwrap="no-such-bwrap").check()
    assert os.path.isdir(tmp_path)


async def test_cgroups_of_gone_servers_are_swept() -> None:
    from threadline.sandbox.cgroup import MemoryCgroup, sweep

    made = MemoryCgroup.create("threadline-kernel-2147483647-1", 64 * 1024 * 1024)
    if made is None:
        pytest.skip("no memory cgroup can be made here")
    ours = MemoryCgroup.create(f"threadline-kernel-{os.getpid()}-1", 64 * 1024 * 1024)
    assert ours is not None
    try:
        assert sweep() >= 1
        assert not made.path.exists()
        assert ours.path.exists()
    finally:
        await ours.remove()
        await made.remove()
