"""The default sandbox: bubblewrap (apt `bubblewrap`), unprivileged.

Each kernel runs in fresh user, PID, network, IPC, UTS and cgroup namespaces with no
capabilities and a cleared environment, on a tmpfs root that holds only a read-only /usr,
the read-only sandbox venv, its own /proc, /dev and /tmp, its writable `/mnt/data` and its
sockets directory. Its network namespace has nothing but a loopback of its own, and its
seccomp filter refuses every socket family but AF_UNIX. Run by root, the server starts each
kernel under its own unprivileged uid (`uid_base + slot`); run by anyone else, under the
server's uid. Memory is held by a cgroup where one can be made and by RLIMIT_AS; file size
and process count by rlimits; CPU time per cell by RLIMIT_CPU, raised before each cell."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from threadline.sandbox.base import (
    DATA_DIR,
    KERNEL_DIR,
    ChildProcess,
    Limits,
    SandboxProcess,
    SandboxUnavailableError,
    Workspace,
)
from threadline.sandbox.cgroup import MemoryCgroup
from threadline.sandbox.seccomp import filter_bpf

__all__ = ["BubblewrapSandbox"]

_LAUNCHER = Path(__file__).with_name("launch.py")
_MB = 1024 * 1024
# Read-only host paths a Python kernel needs besides /usr (fonts for matplotlib, time zone).
_OPTIONAL_RO = ("/etc/fonts", "/etc/localtime", "/etc/mime.types")
_UNLIMITED = resource.RLIM_INFINITY


@dataclass
class BubblewrapSandbox:
    """Starts kernels under bubblewrap; `check()` says why it cannot, where it cannot."""

    venv: Path
    limits: Limits = field(default_factory=Limits)
    uid_base: int = 200_000
    bwrap: str = "bwrap"
    name: str = "bubblewrap"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def uid(self, slot: int) -> int | None:
        return self.uid_base + slot if self._as_root else None

    def inside(self, workspace: Workspace) -> Workspace:
        return Workspace(Path(DATA_DIR), Path(KERNEL_DIR))

    def check(self) -> None:
        if shutil.which(self.bwrap) is None:
            raise SandboxUnavailableError(
                "bubblewrap is not installed (apt-get install --no-install-recommends bubblewrap)."
            )
        python = self.venv / "bin" / "python"
        if not python.exists():
            raise SandboxUnavailableError(
                f"The sandbox venv {self.venv} is missing: build it with `make sandbox`."
            )
        try:
            filter_bpf()
        except (ImportError, OSError) as error:
            raise SandboxUnavailableError(f"No seccomp filter can be built: {error}") from error
        # The probe runs as the kernels will: unprivileged, in every namespace.
        probe = subprocess.run(
            [self.bwrap, "--unshare-all", "--ro-bind", "/", "/", "--", "/usr/bin/true"],
            capture_output=True,
            text=True,
            check=False,
            user=self.uid(0),
            group=self.uid(0),
            extra_groups=[] if self._as_root else None,
        )
        if probe.returncode != 0:
            raise SandboxUnavailableError(
                "bubblewrap cannot create namespaces here (unprivileged user namespaces "
                f"disabled, or a container's seccomp profile): {probe.stderr.strip()}"
            )

    def prepare(self, workspace: Workspace, slot: int) -> None:
        for directory in (workspace.data, workspace.sockets):
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        uid = self.uid(slot)
        if uid is not None:
            for directory in (workspace.data, workspace.sockets):
                os.chown(directory, uid, uid)

    def argv(
        self, workspace: Workspace, command: list[str], env: dict[str, str], seccomp_fd: int
    ) -> list[str]:
        """The bubblewrap command line; it reads the seccomp filter from `seccomp_fd`."""
        bwrap = shutil.which(self.bwrap) or self.bwrap
        args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
        args += ["--cap-drop", "ALL", "--clearenv", "--hostname", "sandbox"]
        args += ["--tmpfs", "/", "--ro-bind", "/usr", "/usr"]
        for link in ("bin", "lib", "lib64", "sbin"):
            if Path("/usr", link).is_dir():
                args += ["--symlink", f"usr/{link}", f"/{link}"]
        for path in _OPTIONAL_RO:
            args += ["--ro-bind-try", path, path]
        venv = str(self.venv)
        args += ["--ro-bind", venv, venv, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        args += ["--bind", str(workspace.data), DATA_DIR]
        args += ["--bind", str(workspace.sockets), KERNEL_DIR, "--chdir", DATA_DIR]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--seccomp", str(seccomp_fd), "--", *command]
        return args

    def _rlimits(self) -> dict[str, tuple[int, int]]:
        limits = self.limits
        memory = limits.memory_mb * _MB
        cpu_hard = limits.cpu_seconds + 5 if self._as_root else _UNLIMITED
        return {
            # The address space a kernel maps runs well above what it touches: the cgroup
            # holds resident memory at the limit; RLIMIT_AS stops runaway allocations early.
            "RLIMIT_AS": (memory * 2, memory * 2),
            "RLIMIT_FSIZE": (limits.file_size_mb * _MB, limits.file_size_mb * _MB),
            "RLIMIT_NPROC": (limits.processes, limits.processes),
            "RLIMIT_CPU": (limits.cpu_seconds, cpu_hard),
            "RLIMIT_CORE": (0, 0),
        }

    async def start(
        self, workspace: Workspace, argv: list[str], env: dict[str, str], slot: int
    ) -> SandboxProcess:
        cgroup = MemoryCgroup.create(
            f"threadline-kernel-{os.getpid()}-{slot}", self.limits.memory_mb * _MB
        )
        uid = self.uid(slot)
        spec: dict[str, object] = {
            "cgroup_procs": str(cgroup.procs) if cgroup is not None else None,
            "rlimits": self._rlimits(),
            "uid": uid,
            "gid": uid,
        }
        read, write = os.pipe()
        spec["argv"] = self.argv(workspace, argv, env, seccomp_fd=read)
        try:
            os.write(write, filter_bpf())
        finally:
            os.close(write)
        log = os.open(
            workspace.sockets / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-S",
                str(_LAUNCHER),
                json.dumps(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(read,),
                start_new_session=True,
            )
        finally:
            os.close(read)
            os.close(log)
        return ChildProcess(process, cgroup.remove if cgroup is not None else None)
