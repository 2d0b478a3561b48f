"""What the model's code must not do, tried for real in the bubblewrap sandbox. Each attempt
ends as a log output, and the pool serves the next cell as if nothing had happened."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sandbox.conftest import LIMITS
from tests.sandbox.helpers import logs, run_cell
from threadline.sandbox.kernel import CellResult
from threadline.sandbox.pool import KernelPool


def _exists(path: str) -> bool:
    return Path(path).exists()


async def attempt(pool: KernelPool, code: str, thread_id: str = "thread_a") -> str:
    """Run `code`; check the kernel still serves a cell afterwards; the attempt's logs."""
    result = await run_cell(pool, thread_id, code)
    assert result.outputs, "an attempt must leave a log output"
    healthy = await run_cell(pool, thread_id, "print('healthy')")
    assert logs(healthy) == "healthy\n"
    return logs(result)


async def test_cannot_read_etc_shadow(pool: KernelPool) -> None:
    out = await attempt(pool, "print(open('/etc/shadow').read())")
    assert "FileNotFoundError" in out


async def test_cannot_see_the_servers_files(pool: KernelPool, tmp_path: Path) -> None:
    secret = tmp_path / "threadline.db"
    secret.write_text("the server's data")
    code = f"import os\nprint(os.path.exists({str(secret)!r}), os.path.exists('/root'))\n"
    code += f"print(open({str(secret)!r}).read())"
    out = await attempt(pool, code)
    assert "False False" in out
    assert "the server's data" not in out
    code = "import os\nprint(sorted(os.listdir('/')))"
    listed = await attempt(pool, code)
    for hidden in ("root", "home", "work", "var", "srv"):
        assert f"'{hidden}'" not in listed


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    """A TCP server on the host's loopback, to be (not) reached from the sandbox."""
    reached: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()
    assert not reached, "the sandbox reached the host's loopback"


async def test_cannot_open_a_socket(pool: KernelPool, listener: int) -> None:
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {listener}), timeout=2)"
    assert "PermissionError" in await attempt(pool, code)
    for family in ("AF_INET6", "AF_PACKET"):
        code = f"import socket\nsocket.socket(socket.{family}, socket.SOCK_STREAM)"
        if family == "AF_PACKET":
            code = "import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW)"
        assert "PermissionError" in await attempt(pool, code)
    out = await attempt(pool, "import socket\nsocket.getaddrinfo('localhost', 80)")
    assert "gaierror" in out or "Error" in out


async def test_cannot_write_outside_mnt_data(pool: KernelPool) -> None:
    venv = str(pool.venv)
    for path in ("/usr/evil", f"{venv}/evil", "/etc/fonts/evil"):
        out = await attempt(pool, f"open({path!r}, 'w').write('x')")
        assert "Read-only file system" in out or "Permission" in out or "No such file" in out
        assert not _exists(path)
    # The sandbox's root and /tmp are private tmpfs: writes there never reach the host.
    marker = f"/tmp/threadline-sandbox-escape-{os.getpid()}"
    await attempt(pool, f"open({marker!r}, 'w').write('x'); print('wrote')")
    assert not _exists(marker)


async def test_a_fork_bomb_is_contained(pool: KernelPool) -> None:
    code = (
        "import os\n"
        "children = 0\n"
        "while True:\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as error:\n"
        "        print('fork refused:', error.strerror)\n"
        "        break\n"
        "    if pid == 0:\n"
        "        import time\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "    children += 1\n"
    )
    out = await attempt(pool, code)
    assert "fork refused" in out
    # The bomb's children were ended with the cell.
    count = await run_cell(
        pool, "thread_a", "import os\nprint(sum(p.isdigit() for p in os.listdir('/proc')))"
    )
    assert int(logs(count)) < 8


async def test_memory_is_limited(pool: KernelPool) -> None:
    out = await attempt(pool, f"x = bytearray({LIMITS.memory_mb * 4} * 1024 * 1024)")
    assert "MemoryError" in out
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 1024 * 1024))"
    out = await attempt(pool, code)
    assert "MemoryError" in out or "kernel died" in out


async def test_cpu_time_is_limited(pool: KernelPool) -> None:
    started = time.monotonic()
    out = await attempt(pool, "while True:\n    pass")
    assert time.monotonic() - started < LIMITS.wall_seconds + 10
    assert "CPU time limit" in out or "time limit" in out


async def test_wall_clock_is_limited(pool: KernelPool) -> None:
    started = time.monotonic()
    out = await attempt(pool, "import time\ntime.sleep(600)")
    assert time.monotonic() - started < LIMITS.wall_seconds + 10
    assert "time limit" in out
    # Code that ignores the interrupt is killed with its kernel.
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)"
    started = time.monotonic()
    result: CellResult = await run_cell(pool, "thread_a", code)
    assert result.died
    assert time.monotonic() - started < LIMITS.wall_seconds + 10
    assert logs(await run_cell(pool, "thread_a", "print('healthy')")) == "healthy\n"


async def test_file_size_is_limited(pool: KernelPool) -> None:
    code = f"open('/mnt/data/big', 'wb').write(b'x' * ({LIMITS.file_size_mb} + 1) * 1024 * 1024)"
    out = await attempt(pool, code)
    assert "File too large" in out or "kernel died" in out


async def test_threads_do_not_see_each_others_files(pool: KernelPool) -> None:
    await attempt(pool, "open('/mnt/data/secret.txt', 'w').write('a')", "thread_a")
    async with pool.kernel("thread_a") as kernel:
        host_path = kernel.workspace.data / "secret.txt"
        assert host_path.exists()
    code = (
        "import os\n"
        f"print(os.listdir('/mnt/data'), os.path.exists({str(host_path)!r}))\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]))"
    )
    out = await attempt(pool, code, "thread_b")
    assert out.splitlines()[0] == "[] False"


async def test_the_kernel_runs_unprivileged(pool: KernelPool) -> None:
    out = await attempt(
        pool,
        "import os\nprint(open('/proc/self/status').read().split('CapEff:')[1].split()[0])",
    )
    assert out.strip() == "0000000000000000"
    if os.geteuid() == 0:
        async with pool.kernel("thread_a") as kernel:
            assert kernel.uid is not None
            assert kernel.uid != 0
            assert os.stat(kernel.workspace.data).st_uid == kernel.uid


async def test_the_sandbox_leaves_no_process_behind(pool: KernelPool) -> None:
    """Once its kernel ends, nothing runs under a kernel's uid (its bomb's children neither)."""
    if os.geteuid() != 0:
        pytest.skip("kernels run as the server's own uid when it is not root")
    code = "import os\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n"
    code += "        import time\n        time.sleep(600)\n"
    await run_cell(pool, "thread_a", code)
    async with pool.kernel("thread_a") as kernel:
        uid = kernel.uid
    await pool.close()
    for _ in range(100):
        if uid not in _running_uids():
            break
        await asyncio.sleep(0.1)
    assert uid not in _running_uids()


def _running_uids() -> set[int]:
    owners = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                owners.add(entry.stat().st_uid)
            except OSError:
                continue
    return owners


def test_socket_module_is_the_hosts() -> None:
    """The host can still open sockets (the filter applies inside sandboxes only)."""
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
