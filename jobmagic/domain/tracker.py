"""The one background tracker per kernel that keeps every watched run current.

It polls *applications*, not runs: each tick lists every watched application's
newest runs once and hands each handle (:class:`jobmagic.domain.handle.RunHandle`) its
fresh JobRun, so a sweep of 200 runs of one job costs one request per tick. It only
sets state and calls listeners — it never prints, because output from a thread lands
in whichever cell happens to be running.

A run someone waits for (:meth:`Tracker.hurry`: ``--wait``, ``run.wait()``) has its
application polled once a second (one list call for all its waited runs), in a rhythm
shifted to land just after the soonest expected end
(:mod:`jobmagic.domain.end_estimate`), so a wait returns as soon as the end is known.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from jobmagic._ticks import tick_batch
from jobmagic.domain.end_estimate import EndEstimates, next_poll_time
from jobmagic.domain.metrics import refresh_handles as refresh_metrics
from jobmagic.domain.refresh import refresh_app
from jobmagic.errors import JobmagicError
from jobmagic.models import JobRun

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.domain.handle import RunHandle

__all__ = ["MAX_BACKOFF_SECONDS", "MAX_BY_NAME", "WAIT_SPACING", "Tracker"]

MAX_BACKOFF_SECONDS = 60.0
#: The most runs asked for by name in one tick; the others wait for the next ticks (in
#: turn), so a tick, and a shutdown waiting for it, never makes thousands of requests.
MAX_BY_NAME = 16
#: A waited run's application is polled at most this often (one list call answers for all
#: its runs): at most one request a second per waited run, however many are waited for.
WAIT_SPACING = 1.0
#: The most applications whose runs' durations are remembered.
KEEP_ESTIMATES = 32


@dataclass
class _AppState:
    failures: int = 0
    stale_since: datetime | None = None
    next_poll: float = 0.0
    last_poll: float = float("-inf")


def _just_created(run: JobRun) -> bool:
    """True for a live run created less than :data:`WAIT_SPACING` ago (by this clock)."""
    if run.created_at is None or run.is_terminal:
        return False
    age = (datetime.now(timezone.utc) - run.created_at).total_seconds()
    return -WAIT_SPACING < age < WAIT_SPACING


class Tracker:
    """One background thread that keeps every watched, non-terminal run current.

    It starts when the first run is watched and stops by itself when none is
    left; ``shutdown()`` stops it for good (the extension calls it when the
    kernel exits).
    """

    def __init__(
        self,
        client_factory: Callable[[], JobsClient],
        *,
        interval: Callable[[], float] | float = 2.0,
        on_runs: Callable[[list[JobRun]], None] | None = None,
    ):
        self._client_factory = client_factory
        self._interval = interval if callable(interval) else (lambda: float(interval))
        self._on_runs = on_runs
        self._lock = threading.Lock()
        # Several handles may show one run (a card's, a board's): all of them are kept
        # current from the one list call, so displaying a new view never silences an old one.
        self._watched: dict[tuple[str, str], list[RunHandle]] = {}
        # Handles watched for their own sake (``watch()``, a terminate), not for a view: kept
        # until their run ends even with no listener.
        self._pinned: set[int] = set()
        self._apps: dict[str, _AppState] = {}
        # Handles waited for (hurry), by id; and what each application's runs took.
        self._hurried: dict[int, RunHandle] = {}
        self._estimates: dict[str, EndEstimates] = {}
        self._wake = threading.Event()
        self._resting = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    @property
    def watched(self) -> list[RunHandle]:
        with self._lock:
            return [handle for handles in self._watched.values() for handle in handles]

    @property
    def idle(self) -> bool:
        """True while the thread sleeps until its next poll, with nothing asked of it."""
        return self._resting.is_set() and not self._wake.is_set()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def watch(self, handle: RunHandle, *, pin: bool = True) -> None:
        """Keep ``handle`` current until it ends; starts the thread if needed.

        Other handles of the same run stay watched too. With ``pin=False`` (a view's
        subscription) the handle is dropped again by :meth:`release` once it has no listener.
        """
        if self._stopped.is_set() or not handle.application_id:
            return
        with self._lock:
            handles = self._watched.setdefault((handle.application_id, handle.name), [])
            if not any(h is handle for h in handles):
                handles.append(handle)
            if pin:
                self._pinned.add(id(handle))
            self._apps.setdefault(handle.application_id, _AppState())
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="jobmagic-tracker", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def hurry(self, handle: RunHandle) -> Callable[[], None]:
        """Poll ``handle``'s application on the wait schedule (once a second, landing just
        after the run's expected end) until the returned function is called; the handle must
        be watched as well (a subscription)."""
        app_id = handle.application_id
        if self._stopped.is_set() or not app_id:
            return lambda: None
        key = id(handle)
        with self._lock:
            self._hurried[key] = handle
            state = self._apps.setdefault(app_id, _AppState())
            if state.last_poll == float("-inf") and _just_created(handle.run):
                # The trigger's answer is as fresh as a poll: the first one can wait a second.
                state.last_poll = time.monotonic()
                state.next_poll = state.last_poll + WAIT_SPACING
            if not state.failures:
                # A card's slower rhythm gives way at once; an earlier poll stays.
                state.next_poll = min(state.next_poll, self._next_poll(app_id, state.last_poll))
        self._wake.set()

        def release() -> None:
            with self._lock:
                self._hurried.pop(key, None)

        return release

    def _next_poll(self, app_id: str, last: float) -> float:
        """When ``app_id`` is due after a poll at ``last`` (caller holds the lock)."""
        interval = self._interval()
        waited = [
            handle.run
            for handle in self._hurried.values()
            if handle.application_id == app_id and not handle.run.is_terminal
        ]
        if not waited:
            return last + interval
        spacing = min(interval, WAIT_SPACING)
        estimates = self._estimates.get(app_id)
        targets: list[float] = []
        if estimates is not None:
            mono, wall = time.monotonic(), datetime.now(timezone.utc)
            for run in waited:
                end = estimates.expected_end(run)
                if end is not None:
                    # Server time to this process's clock: assumes the two agree (NTP); when
                    # they do not, polls land off the end and it is seen within a second.
                    ahead = (end - wall).total_seconds() + estimates.margin(run)
                    targets.append(mono + ahead)
        return next_poll_time(last, spacing, targets)

    def _learn(self, app_id: str, page: list[JobRun]) -> None:
        """Remember how long the listed runs took (tracker thread)."""
        estimates = self._estimates.pop(app_id, None) or EndEstimates()
        estimates.learn(page)
        self._estimates[app_id] = estimates  # the newest last: the oldest go first
        while len(self._estimates) > KEEP_ESTIMATES:
            del self._estimates[next(iter(self._estimates))]

    def unwatch(self, handle: RunHandle) -> None:
        """Stop polling for ``handle`` (other handles of the same run stay watched)."""
        with self._lock:
            self._drop(handle)

    def release(self, handle: RunHandle) -> None:
        """Stop polling for ``handle`` if nothing needs it: no listener and not pinned."""
        with self._lock:
            if id(handle) not in self._pinned and not handle.has_listeners:
                self._drop(handle)

    def _drop(self, handle: RunHandle) -> None:
        # Caller holds the lock.
        self._pinned.discard(id(handle))
        if not handle.application_id:
            return
        key = (handle.application_id, handle.name)
        handles = [h for h in self._watched.get(key, []) if h is not handle]
        if handles:
            self._watched[key] = handles
        else:
            self._watched.pop(key, None)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop polling and join the thread; True once no tracker thread runs."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        client: JobsClient | None = None
        try:
            while not self._stopped.is_set():
                with self._lock:
                    if not self._watched:
                        self._thread = None
                        return
                if client is None:
                    client = self._client_factory()
                # Cleared before the tick, not after: a shutdown or a new watch during the
                # tick must cut the sleep short (clearing after lost them: a kernel's exit
                # waited out the whole poll interval).
                self._resting.clear()
                self._wake.clear()
                self.tick(client)
                if self._stopped.is_set():
                    return
                self._resting.set()
                self._wake.wait(self._sleep_time())
        finally:
            if client is not None:
                client.close()

    def _sleep_time(self) -> float:
        now = time.monotonic()
        with self._lock:
            waits = [state.next_poll - now for state in self._apps.values()]
        # A short floor: a wait's poll is timed to land just after a run's expected end.
        return max(0.005, min(waits, default=self._interval()))

    def tick(self, client: JobsClient) -> None:
        """One round: one list call per application that is due; apply the results; then
        the views that asked (:func:`jobmagic._ticks.after_tick`) redraw, each once."""
        self.ticks += 1
        with tick_batch():
            self._tick(client)

    def _tick(self, client: JobsClient) -> None:
        with self._lock:
            groups: dict[str, list[RunHandle]] = {}
            for (app_id, _name), handles in self._watched.items():
                groups.setdefault(app_id, []).extend(handles)
        now = time.monotonic()
        fresh: list[JobRun] = []
        for app_id, handles in groups.items():
            if self._stopped.is_set():
                return  # shutting down: the rest of this tick is of no use to anyone
            state = self._apps.setdefault(app_id, _AppState())
            if state.next_poll > now:
                continue
            polled_at = time.monotonic()
            try:
                fresh.extend(self._poll_app(client, app_id, handles))
            except JobmagicError:
                state.failures += 1
                state.stale_since = state.stale_since or datetime.now(timezone.utc)
                backoff = min(MAX_BACKOFF_SECONDS, self._interval() * 2**state.failures)
                state.next_poll = time.monotonic() + backoff
                for handle in handles:
                    handle.mark_stale(state.stale_since)
            else:
                state.failures = 0
                state.stale_since = None
                with self._lock:
                    state.last_poll = polled_at
                    state.next_poll = self._next_poll(app_id, polled_at)
        if fresh and self._on_runs is not None and not self._stopped.is_set():
            # A ledger hiccup must not stop the cards from updating.
            with contextlib.suppress(Exception):
                self._on_runs(fresh)
        with self._lock:
            for handles in list(self._watched.values()):
                for handle in handles:
                    if handle.run.is_terminal or handle.given_up:
                        self._drop(handle)
            live_apps = {app_id for app_id, _ in self._watched}
            for app_id in list(self._apps):
                if app_id not in live_apps:
                    del self._apps[app_id]

    def _listed(
        self, client: JobsClient, app_id: str, handles: list[RunHandle], page: list[JobRun]
    ) -> None:
        """The application's newest page: its runs' durations, then its metrics."""
        with self._lock:
            self._learn(app_id, page)
        refresh_metrics(client, app_id, handles, page)

    def _poll_app(self, client: JobsClient, app_id: str, handles: list[RunHandle]) -> list[JobRun]:
        """Poll one application for its watched ``handles``; the runs that changed since
        their handles last heard."""
        # Before the views hear of the runs, so an update shows its metrics: one search.
        fresh = refresh_app(
            client,
            app_id,
            [handle.run for handle in handles],
            by_name_limit=MAX_BY_NAME,
            rotation=self.ticks * MAX_BY_NAME,
            stopped=self._stopped.is_set,
            listed=lambda page: self._listed(client, app_id, handles, page),
        )
        changed: dict[str, JobRun] = {}
        for handle in handles:  # every handle of a run hears of it, not only the newest
            run = fresh.get(handle.name)
            if run is not None:
                if run != handle.run:
                    changed[run.name] = run
                handle.take(run)
        # Only what changed goes to the ledger: a board's fifty quiet runs cost no writes.
        return list(changed.values())
