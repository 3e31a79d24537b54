"""The launcher's own program: a small process that starts, signals and reaps the runs.

Run as ``python -I -S launch_helper.py FD`` (by path: ``-I`` keeps the script's folder off
``sys.path``) by :class:`jobmagic.sandbox.processes.launcher.Launcher`; it imports nothing
but the standard library, so it starts in milliseconds and stays small.

Why a process of its own: a run started from the sandbox's server process costs that
process a fork-and-exec while holding its GIL (``subprocess`` waits for the child's
``exec`` inside ``fork_exec``), plus ``Popen``'s bookkeeping, on the thread that should be
answering requests. Here the server only writes a request to a pipe; this process does the
``posix_spawn`` (a ``vfork``-style clone: nothing of a large parent is copied) on the other
core, and hands back the run's pid and the read ends of its stdout and stderr pipes over a
Unix socket (``SCM_RIGHTS``), so the sandbox reads the run's output as if it had started it.

It is the runs' parent, so it alone can reap them and know their exit codes: it reports
each exit, and it alone signals them, so a signal never reaches a reused pid (a pid it has
reaped is forgotten at once, in the same thread). When its stdin closes without ``stop``
first — the sandbox died, even by SIGKILL — it SIGKILLs every run's process group still
alive, grandchildren included.

Requests (stdin, each a 4-byte little-endian length and a ``marshal``-ed tuple):
``("spawn", key, argv, cwd, env)``, ``("signal", pid, signum)``, ``("stop",)``.
Replies (the socket, one datagram each, ``marshal``-ed): ``("started", key, pid, ticks)``
with two file descriptors (stdout, stderr), ``("failed", key, code, message)``,
``("exited", pid, returncode)`` with ``returncode`` as ``Popen`` reports it (-N: signal N).
"""

from __future__ import annotations

import contextlib
import errno
import marshal
import os
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["FRAME", "encode", "frames", "main", "start_ticks"]

#: A request's length prefix.
FRAME = struct.Struct("<I")
_READ_CHUNK = 1 << 20


def encode(messages: Iterable[tuple[Any, ...]]) -> bytes:
    """``messages`` as the requests :func:`frames` reads back, in one piece of bytes."""
    data = bytearray()
    for message in messages:
        payload = marshal.dumps(message)
        data += FRAME.pack(len(payload))
        data += payload
    return bytes(data)


def frames(buffer: bytearray) -> Iterator[tuple[Any, ...]]:
    """The complete requests at the start of ``buffer``, removed from it as they are read.

    >>> buffer = bytearray(encode([("stop",)]) + b"\\x09")
    >>> list(frames(buffer)), bytes(buffer)
    ([('stop',)], b'\\t')
    """
    while len(buffer) >= FRAME.size:
        (length,) = FRAME.unpack_from(buffer)
        end = FRAME.size + length
        if len(buffer) < end:
            return
        message = marshal.loads(bytes(buffer[FRAME.size : end]))
        del buffer[:end]
        yield message


def start_ticks(pid: int) -> int | None:
    """When a process started (clock ticks since boot, Linux ``/proc``): with the pid, it
    tells a later sandbox whether a leftover process is still the run's (pids are reused)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The command name may contain spaces and parentheses: split after the last ')'.
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class _Helper:
    """The helper's state: its runs (pid -> spawn key, only while unreaped) and its channels."""

    def __init__(self, replies: socket.socket) -> None:
        self.replies = replies
        self.live: dict[int, str] = {}
        self.base_env = dict(os.environ)
        self.paths: dict[str, str] = {}  # program name -> where PATH found it
        self.cwd = os.getcwd()
        self.stopping = False
        # Default dispositions for the run: Python ignores SIGPIPE (and SIGXFSZ), and an
        # ignored signal would stay ignored across exec, as Popen's restore_signals knows.
        self.sigdef = tuple(
            sig for sig in (signal.SIGPIPE, getattr(signal, "SIGXFSZ", None)) if sig is not None
        )
        self.session: dict[str, Any] = {"setsid": True}

    def reply(self, message: tuple[Any, ...], fds: Sequence[int] = ()) -> None:
        payload = marshal.dumps(message)
        if fds:
            socket.send_fds(self.replies, [payload], list(fds))
        else:
            self.replies.send(payload)

    # --- requests ----------------------------------------------------------------------

    def handle(self, request: tuple[Any, ...]) -> None:
        kind = request[0]
        if kind == "spawn":
            _, key, argv, cwd, env = request
            self.spawn(key, argv, cwd, env)
        elif kind == "signal":
            _, pid, signum = request
            if pid in self.live:  # never a pid this process has reaped: it may be reused
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signum)
        elif kind == "stop":
            self.stopping = True

    def spawn(self, key: str, argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> None:
        try:
            self.enter(cwd)
        except OSError:
            self.reply(("failed", key, 126, f"working directory {cwd} does not exist"))
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            try:
                pid = self.spawn_process(argv, {**self.base_env, **env}, out_w, err_w)
            finally:
                os.close(out_w)
                os.close(err_w)
        except OSError as exc:
            os.close(out_r)
            os.close(err_r)
            code = 127 if exc.errno == errno.ENOENT else 126
            reason = exc.strerror or type(exc).__name__
            self.reply(("failed", key, code, f"could not start {argv[0]!r}: {reason}"))
            return
        self.live[pid] = key
        try:
            self.reply(("started", key, pid, start_ticks(pid)), (out_r, err_r))
        finally:
            os.close(out_r)
            os.close(err_r)

    def enter(self, cwd: str) -> None:
        # This process has one thread, so its working directory is the next run's to take:
        # os.posix_spawn has no chdir of its own to offer.
        if cwd != self.cwd:
            os.chdir(cwd)
            self.cwd = cwd

    def spawn_process(
        self, argv: Sequence[str], env: Mapping[str, str], out_w: int, err_w: int
    ) -> int:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ]
        program = self.resolve(argv[0])
        spawn: Callable[..., int] = os.posix_spawn
        options = {"file_actions": actions, "setsigdef": self.sigdef, **self.session}
        try:
            return spawn(program, list(argv), env, **options)
        except NotImplementedError:
            # No POSIX_SPAWN_SETSID (macOS): a process group of its own serves killpg.
            self.session = {"setpgroup": 0}
            return spawn(program, list(argv), env, **{**options, **self.session})
        except FileNotFoundError:
            if self.paths.pop(argv[0], None) is None:
                raise
            return spawn(self.resolve(argv[0]), list(argv), env, **options)

    def resolve(self, name: str) -> str:
        """``name`` as exec finds it on PATH (remembered), or as given when it has a slash."""
        if "/" in name:
            return name
        found = self.paths.get(name)
        if found is None:
            for folder in self.base_env.get("PATH", os.defpath).split(os.pathsep):
                candidate = os.path.join(folder or ".", name)
                if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
                    found = self.paths[name] = candidate
                    break
            else:
                return name  # posix_spawn then fails with ENOENT, as exec would
        return found

    # --- children ----------------------------------------------------------------------

    def reap(self) -> None:
        while self.live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.live.pop(pid, None) is not None:
                self.reply(("exited", pid, os.waitstatus_to_exitcode(status)))

    def kill_all(self) -> None:
        for pid in self.live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    replies = socket.socket(fileno=int(args[0]))
    os.set_inheritable(replies.fileno(), False)  # it came through pass_fds: runs must not hold it
    helper = _Helper(replies)
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # only to wake the selector
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "requests")
    selector.register(wake_r, selectors.EVENT_READ, "children")
    buffer = bytearray()
    try:
        while True:
            for key, _events in selector.select():
                if key.data == "children":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_r, 4096):
                            pass
                    helper.reap()
                    continue
                chunk = os.read(0, _READ_CHUNK)
                if not chunk:
                    if not helper.stopping:
                        helper.kill_all()  # the sandbox died: its runs must not outlive it
                    return 0
                buffer += chunk
                for request in frames(buffer):
                    helper.handle(request)
                    if helper.stopping:
                        return 0
                helper.reap()  # a child may have exited while the requests were handled
    except BrokenPipeError:
        helper.kill_all()  # the sandbox is gone and cannot hear of its runs any more
        return 0


if __name__ == "__main__":
    sys.exit(main())
