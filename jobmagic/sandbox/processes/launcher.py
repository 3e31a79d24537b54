"""The sandbox's side of the launcher: a helper process that starts, signals and reaps runs.

The server process never forks a run itself (see :mod:`jobmagic.sandbox.processes.launch_helper`
for why): :meth:`Launcher.spawn_many` writes the requests to the helper's stdin, and what
becomes of them comes back on a Unix socket the :class:`~jobmagic.sandbox.processes.watcher.Watcher`
selects on, as :class:`Started` (with the read ends of the run's stdout and stderr),
:class:`SpawnFailed` and :class:`Exited` events. The helper also stands in for the sandbox
when it dies: its stdin then closes and it kills every run's process group.

>>> import sys, selectors, pathlib
>>> launcher = Launcher(env={"PATH": "/usr/bin:/bin"})
>>> launcher.spawn_many([SpawnRequest("r1", ("sh", "-c", "echo hi"), pathlib.Path.cwd(), {})])
>>> started = launcher.next_event(timeout=10)
>>> type(started).__name__, started.key, os.read(started.stdout, 100)
('Started', 'r1', b'hi\\n')
>>> exited = launcher.next_event(timeout=10)
>>> (type(exited).__name__, exited.pid == started.pid, exited.returncode)
('Exited', True, 0)
>>> started.close_pipes(); launcher.close()
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobmagic.sandbox.processes import launch_helper

__all__ = [
    "Exited",
    "Launcher",
    "LauncherEvent",
    "SpawnFailed",
    "SpawnRequest",
    "Started",
    "kill_if_still_theirs",
]

logger = logging.getLogger("jobmagic.sandbox")

# Replies are a few dozen bytes: this many per read drains a busy socket in few calls.
_MAX_REPLY = 4096
_MAX_FDS = 2


@dataclass(frozen=True)
class SpawnRequest:
    """A run's process to start: ``key`` names it in the events that answer."""

    key: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(repr=False)  # holds the run's own TFY_API_KEY


@dataclass(frozen=True)
class Started:
    """The process of request ``key`` runs as ``pid``; ``stdout``/``stderr`` are the read ends
    of its pipes, now this process's to read and close."""

    key: str
    pid: int
    pid_start: int | None
    stdout: int
    stderr: int

    def close_pipes(self) -> None:
        for fd in (self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass(frozen=True)
class SpawnFailed:
    """The process of request ``key`` did not start: ``code`` as a shell would report it
    (127 not found, 126 not runnable) and why."""

    key: str
    code: int
    message: str


@dataclass(frozen=True)
class Exited:
    """Process ``pid`` exited and was reaped; ``returncode`` as ``Popen`` has it."""

    pid: int
    returncode: int


LauncherEvent = Started | SpawnFailed | Exited


class Launcher:
    """The helper process and its two channels (see the module docstring).

    ``env`` is the environment every run starts from (each request adds its own). The
    replies socket is non-blocking: :meth:`events` drains what has arrived, for a selector
    watching :meth:`fileno`. Writes of requests may come from any thread.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._replies, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()
        try:
            self._popen = subprocess.Popen(
                [sys.executable, "-I", "-S", launch_helper.__file__, str(theirs.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                env=dict(env),
                # Ctrl-C on the terminal running the sandbox must not reach it (nor the runs,
                # each in a session of its own).
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            self._replies.close()
            raise
        finally:
            theirs.close()
        self._replies.setblocking(False)
        self._pending: list[LauncherEvent] = []  # read by next_event, not yet handed out
        self.closed = False

    @property
    def pid(self) -> int:
        return self._popen.pid

    def fileno(self) -> int:
        """Readable when events are waiting (or the helper is gone: :meth:`events` says)."""
        return self._replies.fileno()

    # --- requests ----------------------------------------------------------------------

    def spawn_many(self, requests: Sequence[SpawnRequest]) -> None:
        """Ask for each request's process to start, in order, with one write."""
        self._send([("spawn", r.key, list(r.argv), str(r.cwd), dict(r.env)) for r in requests])

    def signal(self, pid: int, signum: int) -> None:
        """Signal the process group of ``pid``, if it has not been reaped yet."""
        self._send([("signal", pid, int(signum))])

    def _send(self, messages: Sequence[tuple[Any, ...]]) -> None:
        data = launch_helper.encode(messages)
        with self._lock:
            stdin = self._popen.stdin
            if self.closed or stdin is None:
                raise BrokenPipeError("the sandbox's launcher is closed")
            stdin.write(data)
            stdin.flush()

    # --- events ------------------------------------------------------------------------

    def events(self) -> tuple[list[LauncherEvent], bool]:
        """What has arrived so far, without waiting; and True once the helper is gone (its
        socket reached its end: every event it sent is in this or an earlier answer)."""
        found: list[LauncherEvent] = []
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._replies, _MAX_REPLY, _MAX_FDS)
            except BlockingIOError:
                return found, False
            except OSError:
                return found, True
            if not data:
                return found, True
            found.append(_event(marshal.loads(data), fds))

    def next_event(self, timeout: float) -> LauncherEvent | None:
        """The next event, waiting up to ``timeout`` seconds (for tests and doctests: the
        sandbox's watcher reads :meth:`events` from its selector instead)."""
        if not self._pending:
            ready, _, _ = select.select([self._replies], [], [], timeout)
            if ready:
                self._pending.extend(self.events()[0])
        return self._pending.pop(0) if self._pending else None

    # --- the end -----------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Let the helper go, leaving the runs be (the runner ended them first). Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            stdin = self._popen.stdin
            if stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    stdin.write(launch_helper.encode([("stop",)]))
                    stdin.close()
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the sandbox's launcher did not stop in time; killing it")
            self._popen.kill()
            self._popen.wait(5.0)
        self._replies.close()


def kill_if_still_theirs(pid: int | None, pid_start: int | None) -> None:
    """SIGKILL the process group of a run no launcher reaps any more (a dead sandbox's, or a
    dead launcher's), if ``pid`` is still that run's process: pids are reused, so only when
    its start time is still ``pid_start``."""
    if pid and pid_start is not None and launch_helper.start_ticks(pid) == pid_start:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _event(message: tuple[object, ...], fds: list[int]) -> LauncherEvent:
    kind = message[0]
    if kind == "started":
        _, key, pid, ticks = message
        assert isinstance(key, str) and isinstance(pid, int) and len(fds) == _MAX_FDS
        return Started(key, pid, ticks if isinstance(ticks, int) else None, fds[0], fds[1])
    for fd in fds:  # none are expected: never leak one
        os.close(fd)
    if kind == "failed":
        _, key, code, text = message
        assert isinstance(key, str) and isinstance(code, int)
        return SpawnFailed(key, code, str(text))
    _, pid, returncode = message
    assert kind == "exited" and isinstance(pid, int) and isinstance(returncode, int)
    return Exited(pid, returncode)
