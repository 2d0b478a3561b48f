"""The seccomp filter every sandboxed process runs under, as BPF for `bwrap --seccomp FD`.

Everything is allowed but what a Python kernel never needs and an escape would: sockets of
any family but AF_UNIX and AF_NETLINK (the kernel talks over ZMQ ipc sockets), new
namespaces, tracing,
kernel keyrings, BPF, perf, module loading and mounts. A refused call fails with EPERM, so
the user's code sees an ordinary `PermissionError`."""

from __future__ import annotations

import errno
import socket
import tempfile
from functools import cache
from typing import Any

__all__ = ["filter_bpf"]

_DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "reboot",
    "swapon",
    "swapoff",
    "personality",
    "io_uring_setup",
)

# Every family a Python kernel has no use for. AF_UNIX carries the ZMQ ipc sockets; ZMQ
# lists interfaces over AF_NETLINK (only the sandbox's own loopback, unchangeable without
# capabilities).
_SOCKET_FAMILIES = tuple(
    family for family in range(1, 46) if family not in (socket.AF_UNIX, socket.AF_NETLINK)
)

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
_NAMESPACE_FLAGS = (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000)


@cache
def filter_bpf() -> bytes:
    """The compiled filter (built once per process)."""
    import pyseccomp

    deny = pyseccomp.ERRNO(errno.EPERM)
    rules: Any = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    for family in _SOCKET_FAMILIES:
        rules.add_rule(deny, "socket", pyseccomp.Arg(0, pyseccomp.EQ, family))
    for name in _DENIED:
        rules.add_rule(deny, name)
    # clone() with CLONE_NEWUSER (or any new namespace) is refused; threads and forks pass.
    for flag in _NAMESPACE_FLAGS:
        rules.add_rule(deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    # clone3's flags live in memory, out of the filter's sight: it answers ENOSYS, on which
    # libc falls back to clone().
    rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()
