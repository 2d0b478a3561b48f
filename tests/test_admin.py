"""The admin commands (`threadline runs list|cancel`, `threadline purge`) on a SQLite
database the settings name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.test_contract import message, thread
from tests.store.test_contract_files import file
from tests.store.test_contract_runs import run
from threadline.admin import parse_age
from threadline.blobs import FileBlobStore
from threadline.cli import main
from threadline.ids import new_id, now
from threadline.protocol.runs import RunStatus
from threadline.store import open_store

DAY = 86_400


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The settings point at a fresh SQLite database and data directory (no .env read)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THREADLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("THREADLINE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def _runs(data_dir: Path, *statuses: RunStatus, age: int = 0) -> list[str]:
    async def seed() -> list[str]:
        store = await open_store(str(data_dir / "threadline.db"))
        ids = []
        try:
            for status in statuses:
                created = run(new_id("thread"), status, created_at=now() - age)
                new = thread(id=created.thread_id, created_at=now() - age)
                assert await store.insert_run(created, thread=new)
                ids.append(created.id)
        finally:
            await store.close()
        return ids

    return asyncio.run(seed())


def _status(data_dir: Path, run_id: str) -> str | None:
    async def read() -> str | None:
        store = await open_store(str(data_dir / "threadline.db"))
        try:
            found = await store.find_run(run_id)
        finally:
            await store.close()
        return found.status if found else None

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * DAY), ("12h", 43_200), ("2w", 14 * DAY), (" 45s ", 45)]
)
def test_ages(text: str, seconds: int) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["30", "d", "-1d", "1y", "1.5d"])
def test_bad_ages(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)


def test_runs_list_by_status(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queued, working, done = _runs(data_dir, "queued", "in_progress", "completed")
    assert main(["runs", "list", "--status", "in_progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "THREAD", "STATUS", "CREATED", "(UTC)", "MODEL"]
    assert [line.split()[0] for line in lines[1:]] == [working]
    assert main(["runs", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert listed == [done, working, queued]


def test_runs_cancel_moves_an_active_run_to_cancelling(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (working,) = _runs(data_dir, "in_progress")
    assert main(["runs", "cancel", working]) == 0
    assert capsys.readouterr().out == f"{working} cancelling\n"
    assert _status(data_dir, working) == "cancelling"


def test_runs_cancel_refuses_what_the_api_refuses(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (done,) = _runs(data_dir, "completed")
    assert main(["runs", "cancel", done]) == 1
    assert "Cannot cancel run with status 'completed'" in capsys.readouterr().err
    assert main(["runs", "cancel", "run_missing"]) == 1
    assert "No run found with id 'run_missing'" in capsys.readouterr().err


def _seed_for_purge(data_dir: Path) -> tuple[list[str], list[str]]:
    """Two old threads (one with an old message), one recent; an old and a new file."""

    async def seed() -> tuple[list[str], list[str]]:
        store = await open_store(str(data_dir / "threadline.db"))
        blobs = FileBlobStore(data_dir / "files")
        old = [thread(created_at=now() - 40 * DAY) for _ in range(2)]
        recent = thread(created_at=now() - DAY)
        try:
            for each in (*old, recent):
                await store.insert_thread(each)
            await store.insert_message(message(old[0].id, created_at=now() - 35 * DAY))
            files = [file(created_at=now() - 40 * DAY), file(created_at=now())]
            for one in files:
                await store.insert_file(one)
                await blobs.put(one.id, _chunks(b"bytes"))
        finally:
            await store.close()
        return [t.id for t in (*old, recent)], [f.id for f in files]

    return asyncio.run(seed())


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _left(data_dir: Path, thread_ids: list[str], file_ids: list[str]) -> tuple[list[str], ...]:
    async def read() -> tuple[list[str], list[str]]:
        store = await open_store(str(data_dir / "threadline.db"))
        try:
            threads = [t for t in thread_ids if await store.get_thread(t) is not None]
            files = [f for f in file_ids if await store.get_file(f) is not None]
        finally:
            await store.close()
        return threads, files

    return asyncio.run(read())


def test_purge_dry_run_counts_and_deletes_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads, files = _seed_for_purge(data_dir)
    assert main(["purge", "--older-than", "30d", "--dry-run"]) == 0
    assert "would delete 2 threads and 1 files" in capsys.readouterr().out
    assert _left(data_dir, threads, files) == (threads, files)


def test_purge_deletes_old_threads_and_files_with_their_bytes(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads, files = _seed_for_purge(data_dir)
    assert main(["purge", "--older-than", "30d"]) == 0
    assert "deleted 2 threads and 1 files" in capsys.readouterr().out
    assert _left(data_dir, threads, files) == ([threads[2]], [files[1]])
    assert not (data_dir / "files" / files[0]).exists()
    assert (data_dir / "files" / files[1]).exists()
    assert main(["purge", "--older-than", "30d"]) == 0
    assert "deleted 0 threads and 0 files" in capsys.readouterr().out


def test_purge_refuses_a_bad_age(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--older-than", "a month"]) == 2
    assert "not an age" in capsys.readouterr().err
