"""One wait loop for one run or many: ``RunHandle.wait``, ``SweepResult.wait`` and ``--wait``.

The loop keeps every run polled (a subscription each: the tracker then lists each
application once per tick; and :meth:`~jobmagic.domain.tracker.Tracker.hurry`: once a second,
timed to land just after the run's expected end), wakes as soon as the tracker delivers a
run's new state (not at its next look), hands each pass to a view that may show progress (the
``--wait`` status line, a sweep's progress line: each decides how often it writes), and
ends when every run has ended, at the timeout (:class:`TimeoutError`; the runs keep going),
or at Ctrl-C (:class:`KeyboardInterrupt`, for the caller to decide whether to stop the runs:
:func:`stopped_waiting`). :func:`not_finished` says which runs ended without finishing.

>>> runs = wait_for([handle_a, handle_b], timeout=600)   # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from jobmagic.errors import JobmagicError
from jobmagic.models import RunStatus
from jobmagic.models.text import view_text

if TYPE_CHECKING:
    from jobmagic.domain.handle import RunHandle
    from jobmagic.models import JobRun

__all__ = [
    "WaitView",
    "ended_text",
    "not_finished",
    "stopped_waiting",
    "timeout_message",
    "wait_for",
]

#: How often the loop looks at the runs when nothing wakes it: short, so Ctrl-C and the
#: timeout are seen at once (an update from the tracker wakes it sooner).
POLL_SECONDS = 0.1


class WaitView(Protocol):
    """What a wait shows while it waits."""

    def update(self, runs: Sequence[JobRun], waited: float) -> None:
        """Called on every pass (about every :data:`POLL_SECONDS`)."""

    def finish(self, runs: Sequence[JobRun], waited: float, *, ended: bool) -> None:
        """Called once when the wait stops; ``ended`` if every run ended."""


def wait_for(
    handles: Sequence[RunHandle],
    timeout: float | None = None,
    *,
    view: WaitView | None = None,
    on_update: Callable[[list[JobRun]], None] | None = None,
    single: bool = False,
    subject: str = "",
) -> list[JobRun]:
    """Block until every run has ended; returns their final JobRuns, in order.

    ``on_update(runs)`` is called first and whenever a run's status changes. After
    ``timeout`` seconds a :class:`TimeoutError` says which run (``single``) or how many are
    still going; ``subject`` names the variable its advice uses (``run`` for ``run.wait()``).
    """
    handles = list(handles)
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    heard = threading.Event()

    def listener(_run: Any, _stale: Any) -> None:
        heard.set()  # the tracker's thread: the loop looks at once

    # Hurried first: a run just triggered is then not polled again at once (its trigger's
    # answer is as fresh as a poll), so the wait asks at most once a second from the start.
    unsubscribers = [handle.session.tracker.hurry(handle) for handle in handles]
    unsubscribers += [handle.subscribe(listener) for handle in handles]
    seen: tuple[object, ...] | None = None
    ended = False
    try:
        while True:
            heard.clear()  # before reading: an update landing after it wakes the next wait
            runs = [handle.run for handle in handles]
            key = tuple((run.name, run.status) for run in runs)
            if key != seen and on_update is not None:
                on_update(runs)
            seen = key
            if all(run.is_terminal for run in runs):
                ended = True
                return runs
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError(
                    timeout_message(handles, timeout or 0.0, single=single, subject=subject)
                )
            if view is not None:
                view.update(runs, now - started)
            heard.wait(POLL_SECONDS)
    finally:
        for unsubscribe in unsubscribers:
            unsubscribe()
        if view is not None:
            runs = [handle.run for handle in handles]
            view.finish(runs, time.monotonic() - started, ended=ended)


def timeout_message(
    handles: Sequence[RunHandle], timeout: float, *, single: bool = False, subject: str = ""
) -> str:
    """``Run x is still RUNNING after 5 s; it keeps going. …`` (or ``3 of 4 runs …``), with
    how to wait again or stop when ``subject`` names the user's variable."""
    if single and len(handles) == 1:
        handle = handles[0]
        fact = f"Run {view_text(handle.name)} is still {handle.status} after {timeout:g} s;"
        fact, them = f"{fact} it keeps going.", "it"
    else:
        left = sum(not handle.run.is_terminal for handle in handles)
        fact = f"{left} of {len(handles)} runs are still going after {timeout:g} s;"
        fact, them = f"{fact} they keep going.", "them"
    if not subject:  # no variable to name: the fact alone
        return fact
    return f"{fact} Wait again with {subject}.wait(), or stop {them} with {subject}.terminate()."


def ended_text(run: JobRun) -> str:
    """``train-x ended FAILED with exit code 3: the error``: one line, the error cut at 300
    characters and cleaned (:func:`view_text`: a job's escape sequences reach no terminal
    that reads the cell's error, e.g. in a papermill log).

    >>> from jobmagic.models import JobRun
    >>> ended_text(JobRun(name="t", status="FAILED", exit_code=3, error="\\x1b]0;x\\x07bad\\n"))
    't ended FAILED with exit code 3: bad'
    """
    detail = f" with exit code {run.exit_code}" if run.exit_code is not None else ""
    error = f": {view_text(run.error, limit=300, one_line=True)}" if run.error else ""
    return f"{view_text(run.name)} ended {run.status}{detail}{error}"


def not_finished(
    handles: Sequence[RunHandle], runs: Sequence[JobRun], single: bool, *, advice: str = ""
) -> str:
    """What to say when runs ended but not FINISHED; empty when they all finished.
    ``advice`` (where to read their logs: only the caller knows the user's variable and the
    views shown) follows the facts."""
    failed = [run for run in runs if run.status != RunStatus.FINISHED]
    if not failed:
        return ""
    tail = f" {advice}" if advice else ""
    if single:
        app = handles[0].application_fqn
        job = f" (job {app})" if app else ""
        return f"Run {ended_text(failed[0])}{job}.{tail}"
    names = ", ".join(ended_text(run) for run in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return f"{len(failed)} of {len(runs)} runs did not finish: {names}{more}.{tail}"


def stopped_waiting(
    handles: Sequence[RunHandle], cancel: bool, single: bool, *, advice: str = ""
) -> str:
    """What Ctrl-C during a wait says (``single``: of one run, else of a sweep); with
    ``cancel`` (--cancel-on-interrupt) the runs still going are asked to terminate first.
    ``advice`` (how to stop them: the caller knows the user's variable and the views shown)
    follows the facts when runs are left going."""
    live = [handle for handle in handles if not handle.run.is_terminal]
    tail = f" {advice}" if advice else ""
    if single:
        handle = handles[0]
        name = view_text(handle.name)
        if not cancel:
            return f"Stopped waiting; {name} is still {handle.status} on the server.{tail}"
        try:
            message = handle.terminate()
        except JobmagicError as exc:
            return f"Stopped waiting. Terminating {name} failed: {view_text(exc, one_line=True)}"
        return (
            f"Stopped waiting and asked {name} to terminate ({view_text(message, one_line=True)})."
        )
    if cancel:
        for handle in live:
            with suppress(JobmagicError):  # one that cannot be stopped does not stop others
                handle.terminate()
        return f"Stopped waiting and asked {len(live)} runs to terminate."
    return f"Stopped waiting; {len(live)} runs are still going.{tail}"
