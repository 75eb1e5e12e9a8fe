"""Limits for a child process that runs work a user's input decides (a network, generated code, a big CSV).

One place says how such a child is bounded, so the export's standalone check, a page's torch job and a
training worker all get the same treatment:

    limits = ChildLimits(cpu_seconds=120, memory_bytes=4 * GiB, file_bytes=1 * GiB)
    subprocess.run(cmd, env=clean_env(), cwd=empty_dir, close_fds=True, preexec_fn=limits.apply, timeout=...)
    # or, inside a multiprocessing child, first thing: limits.apply()

`apply()` sets the soft and hard limits (`resource.setrlimit`): CPU seconds (the kernel sends SIGXCPU, then
SIGKILL), address space (an allocation past it fails: MemoryError in Python, a failed allocation in torch)
and the size of any file written (SIGXFSZ is ignored, so an oversized write raises OSError instead of
killing the process). A limit of 0 leaves that resource as it is. A hard limit already lower than asked is
kept (an unprivileged process cannot raise it).
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from dataclasses import dataclass

GiB = 1024**3
# What a clean child keeps from the server's environment: enough to find Python's own libraries and to
# format numbers, nothing that names the server's paths, keys or settings.
KEPT_VARIABLES = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class ChildLimits:
    cpu_seconds: int = 0  # CPU time (user + system), 0: unlimited
    memory_bytes: int = 0  # address space (RLIMIT_AS), 0: unlimited
    file_bytes: int = 0  # largest file the child may write (RLIMIT_FSIZE), 0: unlimited

    def apply(self) -> None:
        """Set the limits in the calling process (a child: `preexec_fn`, or a worker's first line)."""
        _set(resource.RLIMIT_CPU, self.cpu_seconds)
        _set(resource.RLIMIT_AS, self.memory_bytes)
        _set(resource.RLIMIT_FSIZE, self.file_bytes)
        if self.file_bytes:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write is an OSError, not a kill


def _set(which: int, limit: int) -> None:
    if limit <= 0:
        return
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(which, (limit, limit))


def clean_env() -> dict[str, str]:
    """The environment a child that runs untrusted work gets: no PYTHONPATH, HOME, tokens or app settings."""
    env = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def current_address_space() -> int:
    """Bytes of address space this process maps now (Linux; 0 where unknown): a limit for a child forked
    from it must leave room above this, since torch and its libraries are mapped before any work starts."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
