"""One thread that watches every run's process: its two pipes, and its exit as the launcher
reports it, in one selector.

Three threads per run (a reader per pipe and a waiter) cost the sandbox more than the run's
process itself: each start waits for the new thread to be scheduled, and under load they all
contend for the GIL with the event loop. Here one thread ``select()`` s over the pipes of all
runs and over the :class:`~jobmagic.sandbox.processes.launcher.Launcher`'s socket, on which
the runs' starts (with their pipes) and exits arrive.

A run is done when its process exited and both pipes reached end-of-file, or 2 s after it
exited if a grandchild still holds a pipe open: the grandchild must not hold the run's status
hostage (its later lines are still stored). ``on_done`` is then called on this thread with
the return code; the lines read so far were all handed to ``on_line`` before it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobmagic.sandbox.processes.launcher import (
    Exited,
    Launcher,
    SpawnFailed,
    Started,
    kill_if_still_theirs,
)

__all__ = ["LAUNCHER_LOST", "MAX_LINE", "Proc", "Watcher", "split_lines"]

logger = logging.getLogger("jobmagic.sandbox")

MAX_LINE = 64 * 1024  # longer lines are split: one runaway line must not eat the memory
_EXIT_GRACE_S = 2.0
#: ``error`` of a run whose launcher died under it: its exit code was lost with it.
LAUNCHER_LOST = "the sandbox's launcher process died; the run's exit code is unknown"


@dataclass(eq=False)
class Proc:
    """A run's process and what is known of it; shared by the runner and the watcher."""

    run_id: str
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(repr=False)  # holds the run's TFY_API_KEY
    container: str = "job"
    pid: int | None = None  # None until the launcher reports it started
    pid_start: int | None = None  # its start time in clock ticks, to tell a reused pid
    exited: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None
    #: Set when the run could not be recorded as started: it is killed and ends FAILED.
    failed_start: str | None = None
    last_stderr: str | None = None
    last_ns: int = 0
    exited_ms: int = 0  # when the process was seen to exit, ms since the epoch
    #: Lines are stamped to a multiple of this many ns: 1 stamps each line apart; a coarser
    #: step gives lines of one step one time, as log stores with coarse clocks do.
    time_step_ns: int = 1

    def next_time_ns(self) -> int:
        # Never decreasing per run, so lines from both pipes have one order; with a step of
        # 1 strictly increasing. Lines sharing a time keep their order (the store's seq),
        # which is what a client's numLogsToIgnore counts.
        if self.time_step_ns <= 1:
            self.last_ns = max(time.time_ns(), self.last_ns + 1)
        else:
            now = time.time_ns()
            self.last_ns = max(now - now % self.time_step_ns, self.last_ns)
        return self.last_ns


def split_lines(buffer: bytes, eof: bool) -> tuple[list[bytes], bytes]:
    """Complete lines of ``buffer`` (each with its newline, at most :data:`MAX_LINE` bytes)
    and the rest; at ``eof`` the rest is a line too. Cut as ``readline(MAX_LINE)`` would.

    >>> split_lines(b"a\\nb\\r\\nc", eof=False)
    ([b'a\\n', b'b\\r\\n'], b'c')
    >>> split_lines(b"c", eof=True)
    ([b'c'], b'')
    """
    lines = []
    start = 0
    while start < len(buffer):
        end = buffer.find(b"\n", start, start + MAX_LINE)
        if end >= 0:
            end += 1
        elif len(buffer) - start >= MAX_LINE:
            end = start + MAX_LINE
        elif eof:
            end = len(buffer)
        else:
            break
        lines.append(buffer[start:end])
        start = end
    return lines, buffer[start:]


@dataclass(eq=False)
class _Watched:
    proc: Proc
    pipes: dict[int, tuple[str, bytearray]]  # fd -> (stream, partial line)
    exited: bool = False
    returncode: int | None = None  # None after an exit: the launcher died, and the code too
    give_up_at: float | None = None  # when to stop waiting for the pipes after the exit
    done: bool = False


#: Called on the watcher's thread with the runs the launcher started (in one batch): answers
#: the Proc of each to watch, or None for one that must not be watched (already ended).
OnStarted = Callable[[Sequence[Started]], Sequence["Proc | None"]]


class Watcher:
    """Reads the output of every watched process and reports its end (see the module)."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        on_started: OnStarted,
        on_failed: Callable[[SpawnFailed], None],
        on_line: Callable[[Proc, str, bytes], None],
        on_done: Callable[[Proc, int | None], None],
    ) -> None:
        self._launcher = launcher
        self._on_started = on_started
        self._on_failed = on_failed
        self._on_line = on_line
        self._on_done = on_done
        self._selector = selectors.DefaultSelector()
        self._inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._selector.register(launcher.fileno(), selectors.EVENT_READ, launcher)
        self._watched: dict[int, _Watched] = {}  # by pid
        # Those that exited and wait for their pipes: few, so each turn of the loop looks at
        # them only, however many runs are live.
        self._grace: dict[int, _Watched] = {}
        self._closing = False
        self._launcher_gone = False
        self._thread = threading.Thread(target=self._loop, name="sandbox-watcher", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop once every watched run is done (or ``timeout`` passed)."""
        self._inbox.put("close")
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout)

    # --- the thread ------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not (self._closing and all(w.done for w in self._watched.values())):
                timeout = self._timeout()
                for key, _events in self._selector.select(timeout):
                    self._ready(key)
                self._expire()
        except Exception:
            logger.exception("the sandbox's run watcher failed")
        finally:
            # What is left is a grandchild's hold on a pipe of a run that is over.
            for watched in self._watched.values():
                for fd in watched.pipes:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._selector.close()
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _timeout(self) -> float | None:
        deadlines = [w.give_up_at for w in self._grace.values() if w.give_up_at is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _ready(self, key: selectors.SelectorKey) -> None:
        data = key.data
        if data is None:
            self._drain_inbox()
        elif isinstance(data, tuple):
            watched, fd = data
            self._read(watched, fd)
        else:
            self._from_launcher()

    def _drain_inbox(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return
            if message == "close":
                self._closing = True

    def _from_launcher(self) -> None:
        events, gone = self._launcher.events()
        started = [event for event in events if isinstance(event, Started)]
        if started:
            # Before the exits read with them: a run's start always precedes its exit.
            procs = self._on_started(started)
            for start, proc in zip(started, procs, strict=True):
                if proc is None:
                    start.close_pipes()
                else:
                    self._add(proc, start)
        for event in events:
            if isinstance(event, SpawnFailed):
                self._on_failed(event)
            elif isinstance(event, Exited):
                watched = self._watched.get(event.pid)
                if watched is not None:
                    self._exited(watched, event.returncode)
        if gone:
            self._lost_launcher()

    def _lost_launcher(self) -> None:
        """The helper died (killed from outside): the exits of the runs it started will never
        be reported, so each ends now, with no exit code, once its pipes let go."""
        self._selector.unregister(self._launcher.fileno())
        if not self._closing:
            logger.error("the sandbox's launcher process died; its runs end as FAILED")
        for watched in list(self._watched.values()):
            if not watched.exited:
                kill_if_still_theirs(watched.proc.pid, watched.proc.pid_start)  # an orphan now
                self._exited(watched, None)

    def _add(self, proc: Proc, started: Started) -> None:
        watched = _Watched(proc, {})
        self._watched[started.pid] = watched
        for fd, stream in ((started.stdout, "stdout"), (started.stderr, "stderr")):
            os.set_blocking(fd, False)
            watched.pipes[fd] = (stream, bytearray())
            self._selector.register(fd, selectors.EVENT_READ, (watched, fd))

    def _read(self, watched: _Watched, fd: int) -> None:
        stream, partial = watched.pipes[fd]
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        partial += chunk
        lines, rest = split_lines(bytes(partial), eof=not chunk)
        partial[:] = rest
        for line in lines:
            self._on_line(watched.proc, stream, line)
        if not chunk:
            self._selector.unregister(fd)
            del watched.pipes[fd]
            os.close(fd)
            self._settle(watched)

    def _exited(self, watched: _Watched, returncode: int | None) -> None:
        watched.exited = True
        watched.returncode = returncode
        watched.proc.exited_ms = time.time_ns() // 1_000_000
        watched.give_up_at = time.monotonic() + _EXIT_GRACE_S
        assert watched.proc.pid is not None
        self._grace[watched.proc.pid] = watched
        watched.proc.exited.set()
        if returncode is None:
            watched.proc.failed_start = watched.proc.failed_start or LAUNCHER_LOST
        self._settle(watched)

    def _expire(self) -> None:
        now = time.monotonic()
        for watched in list(self._grace.values()):
            if watched.give_up_at is not None and now >= watched.give_up_at:
                self._finish(watched)

    def _settle(self, watched: _Watched) -> None:
        """Report the run's end once it exited and its pipes are closed."""
        if watched.exited and not watched.pipes:
            self._finish(watched)

    def _finish(self, watched: _Watched) -> None:
        pid = watched.proc.pid
        if not watched.done:
            watched.done = True
            watched.give_up_at = None
            self._grace.pop(pid or 0, None)
            try:
                self._on_done(watched.proc, watched.returncode)
            except Exception:
                logger.exception("could not record the end of run %s", watched.proc.run_id)
        if not watched.pipes:
            self._watched.pop(pid or 0, None)
