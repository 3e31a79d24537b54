"""One thread that watches every run's process: its two pipes and its exit, in one selector.

Three threads per run (a reader per pipe and a waiter) cost the sandbox more than the run's
process itself: each start waits for the new thread to be scheduled, and under load they all
contend for the GIL with the event loop. Here one thread ``select()`` s over the pipes of all
runs and, on Linux, over a *pidfd* per process, which becomes readable when it exits; where
there is no ``pidfd_open`` a small waiter thread per run stands in for it.

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
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_LINE", "Proc", "Watcher", "split_lines"]

logger = logging.getLogger("jobmagic.sandbox")

MAX_LINE = 64 * 1024  # longer lines are split: one runaway line must not eat the memory
_EXIT_GRACE_S = 2.0
_HAS_PIDFD = hasattr(os, "pidfd_open")


@dataclass(eq=False)
class Proc:
    """A run's process and what is known of it; shared by the runner and the watcher."""

    run_id: str
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(repr=False)  # holds the run's TFY_API_KEY
    container: str = "job"
    popen: subprocess.Popen[bytes] | None = None  # None until the launcher starts it
    exited: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None
    last_stderr: str | None = None
    last_ns: int = 0
    exited_ms: int = 0  # when the process was seen to exit, ms since the epoch

    def next_time_ns(self) -> int:
        # Strictly increasing per run, so lines from both pipes have one order and a client
        # that pages with startTs = last time + 1 never skips or repeats a line.
        self.last_ns = max(time.time_ns(), self.last_ns + 1)
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
    pidfd: int | None = None
    returncode: int | None = None
    give_up_at: float | None = None  # when to stop waiting for the pipes after the exit
    done: bool = False


class Watcher:
    """Reads the output of every watched process and reports its end (see the module)."""

    def __init__(
        self,
        on_line: Callable[[Proc, str, bytes], None],
        on_done: Callable[[Proc, int], None],
    ) -> None:
        self._on_line = on_line
        self._on_done = on_done
        self._selector = selectors.DefaultSelector()
        self._inbox: queue.SimpleQueue[tuple[str, Proc | str | None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._watched: dict[str, _Watched] = {}
        # Those that exited and wait for their pipes: few, so each turn of the loop looks at
        # them only, however many runs are live.
        self._grace: dict[str, _Watched] = {}
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="sandbox-watcher", daemon=True)
        self._thread.start()

    def watch(self, proc: Proc) -> None:
        """Start watching a started process (its ``popen`` with both pipes)."""
        self._send(("watch", proc))

    def watch_many(self, procs: Sequence[Proc]) -> None:
        """:meth:`watch` for many, with one wake-up of the watcher's thread."""
        for proc in procs:
            self._inbox.put(("watch", proc))
        self._send(None)

    def close(self, timeout: float = 10.0) -> None:
        """Stop once every watched run is done (or ``timeout`` passed)."""
        self._send(("close", None))
        self._thread.join(timeout)

    def _send(self, message: tuple[str, Proc | str | None] | None) -> None:
        """Queue ``message`` (None: only wake the thread for those queued already)."""
        if message is not None:
            self._inbox.put(message)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

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
                popen = watched.proc.popen
                for pipe in (popen.stdout, popen.stderr) if popen is not None else ():
                    if pipe is not None:
                        pipe.close()
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
            self._exited(data)

    def _drain_inbox(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        while True:
            try:
                kind, item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "watch" and isinstance(item, Proc):
                self._add(item)
            elif kind == "exited" and isinstance(item, str):
                watched = self._watched.get(item)
                if watched is not None:
                    self._exited(watched)
            elif kind == "close":
                self._closing = True

    def _add(self, proc: Proc) -> None:
        popen = proc.popen
        assert popen is not None and popen.stdout is not None and popen.stderr is not None
        watched = _Watched(proc, {})
        self._watched[proc.run_id] = watched
        for pipe, stream in ((popen.stdout, "stdout"), (popen.stderr, "stderr")):
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            watched.pipes[fd] = (stream, bytearray())
            self._selector.register(fd, selectors.EVENT_READ, (watched, fd))
        if _HAS_PIDFD:
            try:
                watched.pidfd = os.pidfd_open(popen.pid)
            except OSError:  # already reaped, or a kernel without pidfds: wait in a thread
                watched.pidfd = None
        if watched.pidfd is not None:
            self._selector.register(watched.pidfd, selectors.EVENT_READ, watched)
        else:
            threading.Thread(
                target=self._wait_in_thread, args=(proc,), name="sandbox-wait", daemon=True
            ).start()

    def _wait_in_thread(self, proc: Proc) -> None:
        assert proc.popen is not None
        proc.popen.wait()
        self._send(("exited", proc.run_id))

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
            popen = watched.proc.popen
            assert popen is not None
            for pipe in (popen.stdout, popen.stderr):
                if pipe is not None and not pipe.closed and pipe.fileno() == fd:
                    pipe.close()
            self._settle(watched)

    def _exited(self, watched: _Watched) -> None:
        popen = watched.proc.popen
        assert popen is not None
        if watched.pidfd is not None:
            self._selector.unregister(watched.pidfd)
            os.close(watched.pidfd)
            watched.pidfd = None
        returncode = popen.wait()  # it exited: this reaps it without blocking
        watched.returncode = returncode
        watched.proc.exited_ms = time.time_ns() // 1_000_000
        watched.give_up_at = time.monotonic() + _EXIT_GRACE_S
        self._grace[watched.proc.run_id] = watched
        watched.proc.exited.set()
        self._settle(watched)

    def _expire(self) -> None:
        now = time.monotonic()
        for watched in list(self._grace.values()):
            if watched.give_up_at is not None and now >= watched.give_up_at:
                self._finish(watched)

    def _settle(self, watched: _Watched) -> None:
        """Report the run's end once it exited and its pipes are closed."""
        if watched.returncode is not None and not watched.pipes:
            self._finish(watched)

    def _finish(self, watched: _Watched) -> None:
        if not watched.done:
            watched.done = True
            watched.give_up_at = None
            self._grace.pop(watched.proc.run_id, None)
            assert watched.returncode is not None
            try:
                self._on_done(watched.proc, watched.returncode)
            except Exception:
                logger.exception("could not record the end of run %s", watched.proc.run_id)
        if not watched.pipes:
            self._watched.pop(watched.proc.run_id, None)
