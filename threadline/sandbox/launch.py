"""The first process of a sandbox, run as `python -I -S launch.py SPEC`: joins the kernel's
memory cgroup, sets its resource limits, drops to the sandbox's uid and gid, then becomes
bubblewrap. A process of its own keeps this off the server's threads (no preexec_fn).

Only the standard library: it must start fast and import nothing from the server."""

from __future__ import annotations

import json
import os
import resource
import sys


def main() -> None:
    spec = json.loads(sys.argv[1])
    procs = spec.get("cgroup_procs")
    if procs:
        try:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as error:
            print(f"threadline sandbox: cannot join the memory cgroup: {error}", file=sys.stderr)
    for name, (soft, hard) in spec["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    uid, gid = spec.get("uid"), spec.get("gid")
    if gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None:
        os.setresuid(uid, uid, uid)
    argv = spec["argv"]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
