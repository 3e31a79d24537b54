"""A helper process that ends the runs' process trees if the sandbox dies uncleanly."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

__all__ = ["Reaper", "start_reaper"]

logger = logging.getLogger("jobmagic.sandbox")

# The reaper's whole program: it keeps the set of live run process groups it is told of, and
# kills them when its stdin closes without a "stop" first.
_REAPER_SOURCE = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    if line == "stop\\n":
        sys.exit(0)
    if line[:1] in ("+", "-") and line[1:].strip().isdigit():
        (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class Reaper:
    """A helper process that ends the runs' process trees if the sandbox dies uncleanly.

    Its stdin is a pipe from the sandbox, told of each process group as it starts and ends.
    When the sandbox dies — a SIGKILL runs no clean-up — the kernel closes the pipe and the
    helper SIGKILLs the groups still listed, grandchildren included; else the runs would go
    on, watched by no one, until a later sandbox's :meth:`Runner.recover`. A clean stop
    sends ``stop`` first. Linux's PR_SET_PDEATHSIG would reach only each run's first
    process, and needs a ``preexec_fn``: a full fork per launch, which cost the sandbox
    ~40% of its triggers per second under load.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._lock = threading.Lock()
        self._popen = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,  # a signal to the sandbox's group must not reach it
            close_fds=True,
        )

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def watch_many(self, pgids: Sequence[int]) -> None:
        """:meth:`watch` for many, in one write."""
        if pgids:
            self._send("".join(f"+{pgid}\n" for pgid in pgids))

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def close(self, timeout: float = 5.0) -> None:
        """Let the helper go without killing anything."""
        self._send("stop\n")
        with self._lock:
            if self._popen.stdin is not None:
                with contextlib.suppress(OSError):
                    self._popen.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    def _send(self, line: str) -> None:
        with self._lock:
            stdin = self._popen.stdin
            if stdin is None or stdin.closed:
                return
            try:
                stdin.write(line.encode("ascii"))
                stdin.flush()
            except (OSError, ValueError):
                # The helper is gone: the runs go on; recover() still ends them after a crash.
                logger.debug("the sandbox's reaper is gone", exc_info=True)


def start_reaper(env: Mapping[str, str]) -> Reaper | None:
    """A :class:`Reaper`, or None (with a warning) where no helper process can start."""
    try:
        return Reaper(env)
    except (OSError, ValueError) as exc:  # no usable sys.executable (an embedded Python)
        logger.warning("if this sandbox is killed, its runs go on until the next starts: %s", exc)
        return None
