"""Guards for property tests that feed hostile values to genzoo: bounded memory and time.

A hostile draw (``channels=10**12``, ``num_layers=10**12``) must be refused by validation before
anything is allocated or built. If genzoo instead tries, the test must fail quickly and say so,
not exhaust the machine: :func:`bounded` caps the address space (Linux: ``RLIMIT_AS``, so a huge
allocation fails at once instead of swapping or waking the OOM killer) and the wall-clock time
(``SIGALRM``) of the block it guards.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX only; elsewhere the guards are no-ops
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]


class TooSlow(BaseException):  # a BaseException: `except Exception` cannot hide it
    """The guarded block ran past its time limit (an unbounded size was built)."""


def _virtual_size() -> int | None:
    """Bytes of address space this process maps now (``VmSize``), or ``None`` off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover
        return None
    return None  # pragma: no cover


@contextlib.contextmanager
def bounded(*, seconds: float = 20.0, extra_bytes: int = 4 * 2**30) -> Iterator[None]:
    """Run the block with at most ``extra_bytes`` more address space and ``seconds`` of time.

    Raises:
        TooSlow: the block did not finish in time.
    """
    main = threading.current_thread() is threading.main_thread()
    use_alarm = main and hasattr(signal, "setitimer")
    size = _virtual_size() if resource is not None and sys.platform.startswith("linux") else None
    old_limit = resource.getrlimit(resource.RLIMIT_AS) if size is not None else None

    def expire(signum: int, frame: object) -> None:
        raise TooSlow(f"took more than {seconds:g} s: a size that should be refused was built")

    old_handler = signal.signal(signal.SIGALRM, expire) if use_alarm else None
    try:
        if old_limit is not None and size is not None:
            soft, hard = old_limit
            cap = size + extra_bytes
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            if soft == resource.RLIM_INFINITY or cap < soft:
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
        if old_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, old_limit)
