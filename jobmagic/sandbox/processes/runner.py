"""Runs are real child processes: start them, capture their output as logs, end or kill them.

One launcher thread hands the runs to start, in the order they were triggered, to the
:class:`~jobmagic.sandbox.processes.launcher.Launcher`, a small helper process that starts
them (so the server's process never forks) and reports their exits; one
:class:`~jobmagic.sandbox.processes.watcher.Watcher` thread reads the pipes of every run and
hears of starts and exits. All writes of log lines and of the final status go through one
:class:`~jobmagic.sandbox.storage.writer.Writer` thread in FIFO order, so when a run's status
turns terminal every line it printed is already stored — a client that sees FINISHED and
then reads the logs gets all of them. Each run's pod events
(:mod:`~jobmagic.sandbox.processes.pod_events`) are stored as they happen; those of its end
in the same transaction as its terminal status.

Each child starts in its own session (process group), so terminate signals the whole tree a
job may have spawned, not just its first process. The sandbox runs jobs on POSIX systems.

>>> import tempfile, pathlib, sys
>>> from jobmagic.sandbox.storage.store import Store
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "db")
>>> runner = Runner(store)
>>> run = store.create_run(make_name=lambda: "r-1", application_id="a", application_name="r",
...     deployment_id="d", deployment_version="1", command="", params={}, triggered_by="me",
...     now_ms=0)
>>> runner.start(run.id, [sys.executable, "-c", "print('hi')"], cwd=pathlib.Path.cwd())
>>> runner.wait(run.id, timeout=10)
True
>>> store.get_run_by_id(run.id).status, [r.line for r in store.query_logs([run.id])]
('FINISHED', ['hi'])
>>> runner.stop(); store.close()
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.processes import pod_events
from jobmagic.sandbox.processes.launcher import (
    Launcher,
    SpawnFailed,
    SpawnRequest,
    Started,
    kill_if_still_theirs,
)
from jobmagic.sandbox.processes.watcher import Proc, Watcher
from jobmagic.sandbox.storage.records import TERMINAL, EventRecord, LogRecord, RunEnd, RunStart
from jobmagic.sandbox.storage.store import Store
from jobmagic.sandbox.storage.writer import Writer

__all__ = [
    "LAUNCHER_GONE_ERROR",
    "START_FAILED_ERROR",
    "STOPPED_ERROR",
    "TERMINATED_ERROR",
    "Runner",
]

logger = logging.getLogger("jobmagic.sandbox")

#: ``error`` of runs ended because the sandbox stopped (or had stopped) while they ran.
STOPPED_ERROR = "sandbox stopped"
#: ``error`` of runs ended by a terminate request.
TERMINATED_ERROR = "terminated on request"
#: ``error`` of runs whose process started but could not be recorded as running.
START_FAILED_ERROR = "the sandbox could not start it"
#: ``error`` of runs triggered after the launcher process died (killed from outside).
LAUNCHER_GONE_ERROR = "the sandbox's launcher process is gone; restart the sandbox"

_MAX_ERROR = 500
#: The most runs one wake-up of the launcher thread asks for in one write.
_LAUNCH_BATCH = 64
#: Environment variables a job must not inherit from the sandbox.
_PRIVATE_ENV = ("JOBMAGIC_SANDBOX_TOKEN",)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def exit_code_of(returncode: int) -> int:
    """Popen's returncode as a shell reports it: killed by signal N -> 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class Runner:
    """Starts runs as child processes and sees them to a terminal status.

    ``grace_period`` is how long terminate waits after SIGTERM before SIGKILL;
    ``log_time_step_ns`` what the times of log lines are a multiple of (see ``Proc``).
    """

    def __init__(
        self,
        store: Store,
        *,
        grace_period: float = 3.0,
        env: Mapping[str, str] | None = None,
        log_time_step_ns: int = 1,
    ) -> None:
        self._store = store
        self.grace_period = grace_period
        self.log_time_step_ns = max(1, log_time_step_ns)
        self._base_env = dict(os.environ if env is None else env)
        for name in _PRIVATE_ENV:
            self._base_env.pop(name, None)
        self._base_env["PYTHONUNBUFFERED"] = "1"
        self._launcher = Launcher(self._base_env)
        self._procs: dict[str, Proc] = {}
        self._lock = threading.Lock()
        # Held while runs are handed to the launcher, and by whoever sets a stop_reason:
        # never by a trigger, which takes only ``_lock`` and so is not kept waiting by the
        # launcher thread. Taken before ``_lock`` when both are.
        self._launch_lock = threading.Lock()
        self._stopping = False
        self._writer = Writer(store)
        self._watcher = Watcher(
            self._launcher,
            on_started=self._started,
            on_failed=self._spawn_failed,
            on_line=self._line,
            on_done=self._done,
        )
        self._launches: queue.SimpleQueue[Proc | None] = queue.SimpleQueue()
        self._launch_thread = threading.Thread(
            target=self._launch_loop, name="sandbox-launcher", daemon=True
        )
        self._launch_thread.start()

    # --- starting --------------------------------------------------------------------

    def start(
        self,
        run_id: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        container: str = "job",
    ) -> None:
        """Queue the run's process to start and return at once; the run stays CREATED until
        it starts. A process that cannot start ends the run as FAILED. ``container`` names
        the job's container in the run's events (TrueFoundry names it after the application).

        Starting happens away from the caller: a trigger is answered without waiting for a
        process, as a cluster answers before the pod is scheduled.
        """
        proc = Proc(
            run_id=run_id,
            argv=tuple(argv),
            cwd=cwd,
            env=dict(env or {}),
            container=container,
            time_step_ns=self.log_time_step_ns,
        )
        with self._lock:
            if self._stopping:
                self._store.finish_run(
                    run_id,
                    status="FAILED",
                    end_time_ms=now_ms(),
                    exit_code=None,
                    error=STOPPED_ERROR,
                )
                raise ApiProblem(503, "The sandbox is shutting down; no new runs start.")
            self._procs[run_id] = proc
        self._launches.put(proc)

    def _launch_loop(self) -> None:
        while True:
            batch, last = self._next_launches()
            try:
                self._launch_batch(batch)
            except Exception:
                # The thread must live on whatever failed: every run queued after these
                # waits for it.
                logger.exception("could not hand %d runs to the launcher", len(batch))
            if last:
                return

    def _next_launches(self) -> tuple[list[Proc], bool]:
        """The runs queued now (at least one wait), at most ``_LAUNCH_BATCH``; True when the
        queue's end mark was among them."""
        batch: list[Proc] = []
        item = self._launches.get()
        while item is not None:
            batch.append(item)
            if len(batch) >= _LAUNCH_BATCH:
                return batch, False
            try:
                item = self._launches.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _launch_batch(self, batch: Sequence[Proc]) -> None:
        """Ask the launcher for every process of ``batch`` in one write, except those asked
        to stop meanwhile: they end without ever starting."""
        # Under the launch lock: terminate() and stop() set stop_reason under it, so a run
        # is either asked for before they look (and they or _started end it) or never.
        with self._launch_lock:
            unstarted = [proc for proc in batch if proc.stop_reason is not None]
            wanted = [proc for proc in batch if proc.stop_reason is None]
            if wanted:
                try:
                    self._launcher.spawn_many(
                        [SpawnRequest(p.run_id, p.argv, p.cwd, p.env) for p in wanted]
                    )
                except OSError:
                    logger.exception("the sandbox's launcher is gone")
                    for proc in wanted:
                        proc.failed_start = LAUNCHER_GONE_ERROR
                    unstarted += wanted
        for proc in unstarted:
            status = "FAILED" if proc.failed_start else "TERMINATED"
            self._end_unstarted(proc, status, None, proc.failed_start or proc.stop_reason or "")

    def _started(self, started: Sequence[Started]) -> list[Proc | None]:
        """The launcher started these (on the watcher's thread): record them RUNNING in one
        transaction; answers the Proc of each to watch (None: not a run of ours)."""
        with self._lock:
            procs = [self._procs.get(event.key) for event in started]
        starts = []
        for proc, event in zip(procs, started, strict=True):
            if proc is None:
                self._signal_pid(event.pid, signal.SIGKILL)  # nobody would watch it
                continue
            proc.pid, proc.pid_start = event.pid, event.pid_start
            now = now_ms()
            starts.append(
                RunStart(
                    proc.run_id,
                    event.pid,
                    event.pid_start,
                    pod_events.started(proc.run_id, proc.container, now_ms=now),
                )
            )
        mine = [proc for proc in procs if proc is not None]
        try:
            moved = self._store.mark_running_many(starts)
        except Exception:
            logger.exception("could not record %d runs as started", len(starts))
            moved = [False] * len(starts)
            for proc in mine:
                proc.failed_start = START_FAILED_ERROR
        for proc, ran in zip(mine, moved, strict=True):
            if not ran and proc.failed_start is None:
                # Terminated while it was being started: the run already says so.
                proc.stop_reason = proc.stop_reason or TERMINATED_ERROR
            if not ran or proc.stop_reason is not None:
                # Its end comes by the usual way, once the launcher reports the exit.
                self._signal(proc, signal.SIGKILL)
        return procs

    def _spawn_failed(self, failed: SpawnFailed) -> None:
        """The launcher could not start a run's process (on the watcher's thread)."""
        with self._lock:
            proc = self._procs.get(failed.key)
        if proc is not None:
            self._end_unstarted(proc, "FAILED", failed.code, failed.message)

    def _end_unstarted(self, proc: Proc, status: str, code: int | None, error: str) -> None:
        """Record the end of a run whose process never started, and let waiters go."""
        end = now_ms()
        error = error[:_MAX_ERROR]
        failed = status == "FAILED"
        try:
            self._store.finish_run(
                proc.run_id,
                status=status,
                end_time_ms=end,
                exit_code=code,
                error=error,
                events=pod_events.not_started(proc.run_id, proc.container, code, error, now_ms=end)
                if failed
                else (),
            )
        except Exception:
            logger.exception("could not record the end of run %s", proc.run_id)
        finally:
            with self._lock:
                self._procs.pop(proc.run_id, None)
            proc.exited.set()
            proc.finished.set()

    def _line(self, proc: Proc, stream: str, raw: bytes) -> None:
        """One line a run printed (on the watcher's thread).

        Bytes that are not UTF-8 become U+FFFD; control characters and escape sequences are
        kept, as a TrueFoundry server passes them on: jobmagic's views clean what they show
        (:mod:`jobmagic.models.text`), and the sandbox's must not hide what they would see.
        """
        text = raw.decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1].removesuffix("\r")
        if stream == "stderr" and text.strip():
            proc.last_stderr = text.strip()
        self._writer.log(LogRecord(proc.run_id, proc.next_time_ns(), stream, text))

    def _done(self, proc: Proc, returncode: int | None) -> None:
        """A run's process exited and its output was read (on the watcher's thread);
        ``returncode`` is None when the launcher died before it could tell."""
        end = proc.exited_ms
        status, error = self._outcome(proc, returncode)
        code = None if returncode is None else exit_code_of(returncode)

        def finished() -> None:
            with self._lock:
                self._procs.pop(proc.run_id, None)
            proc.finished.set()

        ended = pod_events.ended(proc.run_id, proc.container, status, code, error, now_ms=end)
        self._writer.finish(RunEnd(proc.run_id, status, end, code, error, ended), finished)

    @staticmethod
    def _outcome(proc: Proc, returncode: int | None) -> tuple[str, str | None]:
        if proc.failed_start is not None:
            return "FAILED", proc.failed_start
        if proc.stop_reason is not None:
            return "TERMINATED", proc.stop_reason
        if returncode == 0:
            return "FINISHED", None
        error = proc.last_stderr or f"exited with code {exit_code_of(returncode or 0)}"
        return "FAILED", error[:_MAX_ERROR]

    # --- ending ----------------------------------------------------------------------

    def terminate(self, run_id: str) -> str:
        """Ask a run to stop; returns its status right after the request.

        Raises ``ApiProblem(417)`` when the run already ended. A second request while one is
        under way is answered with the current status.
        """
        record = self._store.get_run_by_id(run_id)
        if record is None:
            raise ApiProblem.not_found(f"No job run with id {run_id!r}")
        if record.status in TERMINAL:
            raise ApiProblem(
                417, f"Job run {record.name!r} already ended with status {record.status}."
            )
        with self._launch_lock, self._lock:
            proc = self._procs.get(run_id)
            first_request = proc is not None and proc.stop_reason is None
            if proc is not None and first_request:
                proc.stop_reason = TERMINATED_ERROR
        killing = pod_events.killing(
            run_id, record.application_name, "termination requested", now_ms=now_ms()
        )
        if proc is None:
            # Not a run of ours (left by an earlier sandbox, or it ended a moment ago): record
            # the end unless the run reached a terminal status on its own in the meantime.
            if not self._store.finish_run(
                run_id,
                status="TERMINATED",
                end_time_ms=now_ms(),
                exit_code=None,
                error=TERMINATED_ERROR,
                events=[killing],
            ):
                current = self._store.get_run_by_id(run_id)
                raise ApiProblem(
                    417,
                    f"Job run {record.name!r} already ended with status "
                    f"{current.status if current else 'unknown'}.",
                )
            return "TERMINATED"
        if first_request:
            self._record_events([killing])
            self._store.transition(
                run_id, "TERMINATION_REQUESTED", only_from=("CREATED", "RUNNING")
            )
            threading.Thread(
                target=self._kill, args=(proc,), name=f"sandbox-kill-{run_id}", daemon=True
            ).start()
        current = self._store.get_run_by_id(run_id)
        return current.status if current else "TERMINATED"

    def _record_events(self, records: Sequence[EventRecord]) -> None:
        """Store events as they happen; a failure is logged, never fatal: a run must not
        fail, nor a terminate be refused, because its events could not be written."""
        try:
            self._store.add_events(records)
        except Exception:
            logger.exception("could not record %d events", len(records))

    def _kill(self, proc: Proc) -> None:
        try:
            self._store.transition(proc.run_id, "TERMINATING", only_from=("TERMINATION_REQUESTED",))
        except Exception:  # the store may be closing with the sandbox; kill all the same
            logger.debug("could not record TERMINATING for %s", proc.run_id, exc_info=True)
        self._signal(proc, signal.SIGTERM)
        if not proc.exited.wait(self.grace_period):
            self._signal(proc, signal.SIGKILL)

    def _signal(self, proc: Proc, sig: signal.Signals) -> None:
        """Signal the run's process group; a run not started yet is ended by _started (or
        never asked for) once it sees stop_reason."""
        if proc.pid is not None and not proc.exited.is_set():
            self._signal_pid(proc.pid, sig)

    def _signal_pid(self, pid: int, sig: signal.Signals) -> None:
        # Through the launcher: it reaps the runs, so it alone knows a pid is still theirs.
        try:
            self._launcher.signal(pid, sig)
        except OSError:
            logger.debug("cannot signal %d: the launcher is gone", pid)

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Wait until a run this runner started has its final status stored."""
        with self._lock:
            proc = self._procs.get(run_id)
        return True if proc is None else proc.finished.wait(timeout)

    def active_run_ids(self) -> list[str]:
        with self._lock:
            return list(self._procs)

    def stop(self, reason: str = STOPPED_ERROR) -> None:
        """Terminate every child (SIGTERM, then SIGKILL after the grace period), store their
        end as TERMINATED with ``error=reason``, and stop the writer thread."""
        with self._launch_lock, self._lock:
            self._stopping = True
            procs = list(self._procs.values())
            stopping = [proc for proc in procs if proc.stop_reason is None]
            for proc in stopping:
                proc.stop_reason = reason
            # Only started pods are killed; a queued run simply never starts.
            started = [proc for proc in stopping if proc.pid is not None]
        self._record_events(
            [pod_events.killing(p.run_id, p.container, reason, now_ms=now_ms()) for p in started]
        )
        for proc in procs:
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_period
        for proc in procs:
            if not proc.exited.wait(max(0.0, deadline - time.monotonic())):
                self._signal(proc, signal.SIGKILL)
        if not self._launch_thread.is_alive():
            # Nobody will take the queued runs off the queue: end them here.
            for proc in procs:
                if proc.pid is None and not proc.finished.is_set():
                    self._end_unstarted(proc, "TERMINATED", None, reason)
        for proc in procs:
            if not proc.finished.wait(10.0):
                logger.warning("run %s did not end in time", proc.run_id)
        self._launches.put(None)
        self._launch_thread.join(10.0)
        self._watcher.close()
        self._writer.close()
        self._launcher.close()

    # --- after a crash ---------------------------------------------------------------

    def recover(self) -> list[str]:
        """End runs left active by a sandbox that did not stop cleanly.

        They are marked FAILED with ``error="sandbox stopped"``. A leftover process group is
        killed when its leader is provably the same process (same pid *and* start time).
        Returns the ids of the runs it ended.
        """
        ended = []
        for record in self._store.active_runs():
            kill_if_still_theirs(record.pid, record.pid_start)
            if self._store.finish_run(
                record.id,
                status="FAILED",
                end_time_ms=now_ms(),
                exit_code=None,
                error=STOPPED_ERROR,
            ):
                ended.append(record.id)
        return ended
