"""Run handles: a triggered or attached run's latest state, and what can be done with it.

Handles are kept current by the one background tracker per kernel
(:class:`jobmagic.domain.tracker.Tracker`), which polls applications, not runs, and never
prints. A handle holds state and makes HTTP calls; how it is displayed is the IPython
layer's business (:mod:`jobmagic.ipython.display`), and what needs the trigger engine
(``rerun``) goes through its session.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from jobmagic.api.logs import (
    FIRST_PAGE_LINES,
    MAX_PAGE_LINES,
    PAGE_BUDGET_CHARS,
    LogCursor,
    LogPage,
    next_page_lines,
)
from jobmagic.domain.metrics import MetricState, handle_metrics, metric_series, refresh_metrics
from jobmagic.domain.tracker import Tracker
from jobmagic.domain.waiting import wait_for
from jobmagic.errors import JobmagicError
from jobmagic.models import Application, Event, JobRun, RunStatus

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.config import Settings
    from jobmagic.domain.rerun import RerunFields

__all__ = ["Backend", "RunHandle"]

Listener = Callable[[JobRun, "datetime | None"], None]

#: Events are asked for from this long before the run's creation: clocks differ.
EVENTS_LEAD = timedelta(minutes=1)

# UNKNOWN may change again, but a run stuck there must not be polled forever.
UNKNOWN_GIVE_UP_SECONDS = 15 * 60


class Backend(Protocol):
    """What a handle needs from its session (:class:`jobmagic.domain.session.JobSession`)."""

    @property
    def client(self) -> JobsClient: ...

    @property
    def tracker(self) -> Tracker: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def host(self) -> str: ...

    @property
    def show_cards(self) -> bool: ...

    def record_runs(self, runs: Iterable[JobRun]) -> None: ...

    def rerun(
        self,
        handle: RunHandle,
        changes: Mapping[str, str],
        *,
        command: str | None = None,
        alias: str | None = None,
    ) -> RunHandle: ...

    def rerun_fields(self, handle: RunHandle) -> RerunFields: ...


class RunHandle:
    """A triggered (or attached) run: its latest state, and what you can do with it.

    Displayed in a notebook, a handle is the live run card.

    >>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
    >>> run.wait(timeout=60).status
    <RunStatus.FINISHED: 'FINISHED'>
    """

    def __init__(
        self,
        backend: Backend,
        run: JobRun,
        *,
        application: Application | None = None,
        application_id: str | None = None,
        deployment_id: str | None = None,
        params: Mapping[str, str] | None = None,
        command: str | None = None,
        url: str | None = None,
        application_fqn: str | None = None,
        rerun_of: str | None = None,
        sweep: str | None = None,
    ):
        self._backend = backend
        self._run = run
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._stale_since: datetime | None = None
        self._terminal = threading.Event()
        if run.is_terminal:
            self._terminal.set()
        self.application = application
        self.application_id = (
            application_id or run.application_id or (application.id if application else None)
        )
        self.deployment_id = (
            deployment_id
            or run.deployment_id
            or (application.deployment_id if application else None)
        )
        self.params: Mapping[str, str] = dict(params or {})
        self.command = command
        self.url = url
        self._fqn = application_fqn
        #: The name of the run (same application) this one repeats, when it is a rerun.
        self.rerun_of = rerun_of
        #: The name of the sweep this run belongs to (:func:`jobmagic.sweeps`), if any.
        self.sweep = sweep
        self._watch_started = time.monotonic()
        self._events: tuple[Event, ...] = ()
        # "idle" until the run is seen failed or terminated, then "fetching", then "done".
        self._events_state = "idle"
        #: What is known of the run's metrics (:mod:`jobmagic.domain.metrics` keeps it).
        self.metric_state = MetricState()

    # -- state -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def run(self) -> JobRun:
        """The latest JobRun known (kept current while a card or ``wait`` watches it)."""
        return self._run

    @property
    def status(self) -> RunStatus:
        return self._run.status

    @property
    def stale_since(self) -> datetime | None:
        """When polls for this run began failing; None while they succeed."""
        return self._stale_since

    @property
    def session(self) -> Backend:
        """The session this handle belongs to (its client, tracker, settings, ledger)."""
        return self._backend

    @property
    def client(self) -> JobsClient:
        """The client of this handle's session."""
        return self._backend.client

    @property
    def settings(self) -> Settings:
        """The settings of this handle's session."""
        return self._backend.settings

    @property
    def application_fqn(self) -> str | None:
        if self._fqn:
            return self._fqn
        if self.application is not None:
            return self.application.fqn or self.application.name
        return self._run.application_name

    @property
    def metrics(self) -> dict[str, float]:
        """``{metric: latest value}``: from the run's ML runs (and, once it ended, from its
        logs by ``%config JobMagic.metric_patterns``).

        The first read fetches them (one search); from then on the tracker keeps them
        current while the run is live, with one search per application per tick.
        """
        return handle_metrics(self)

    def fetch_metrics(self) -> dict[str, float]:
        """Fetch the run's metrics now (blocking) and keep them for :attr:`metrics`."""
        return handle_metrics(self, refresh=True)

    @property
    def metric_series(self) -> dict[str, tuple[float, ...]]:
        """Each metric's values so far, oldest first (the card's trend); no request."""
        return metric_series(self)

    def want_metrics(self) -> None:
        """Ask the tracker to keep this run's metrics current, without fetching now: a board
        of many runs then costs one search per application per tick, not one per run."""
        self.metric_state.wanted = True

    @property
    def events(self) -> tuple[Event, ...]:
        """The pod events of the run once it failed or was terminated: why it ended.

        Fetched once, when this handle sees the run end (before its views hear of that
        update), and kept; empty before then, for finished runs, and if the fetch failed.
        Reading it never makes a request; :meth:`fetch_events` does.
        """
        return self._events

    def fetch_events(self) -> tuple[Event, ...]:
        """Fetch the run's pod events now (blocking) and keep them for :attr:`events`."""
        app_id = self._require_application_id()
        created = self._run.created_at
        since = created - EVENTS_LEAD if created is not None else None
        events = tuple(self._backend.client.events(app_id, self.name, since=since))
        self._events = events
        return events

    def _fetch_events_on_end(self, run: JobRun) -> None:
        """Fetch the events once, the first time ``run`` shows the run failed or terminated.

        Synchronous, in the thread that saw the end (the tracker's, or a refresh's): a card
        stops listening at the terminal update, so the events must be there by then.
        """
        if not run.status.ended_unsuccessfully or not self.application_id:
            return
        with self._lock:
            if self._events_state != "idle":
                return
            self._events_state = "fetching"
        done = False
        try:
            self.fetch_events()
            done = True
        except JobmagicError:
            pass  # the card shows the run without events; a refresh tries again
        finally:
            with self._lock:
                self._events_state = "done" if done else "idle"

    def take_record(
        self,
        *,
        params: Mapping[str, str] | None,
        command: str | None,
        rerun_of: str | None,
        application_fqn: str | None = None,
    ) -> None:
        """Take what a record says the run was triggered with (the ledger's entry, else the
        params read back from the server's run): each value it knows replaces the handle's,
        and one it does not know (empty) never blanks what the handle knows.

        A handle built from a record starts with it (an attach, the server's listing:
        :func:`jobmagic.domain.server_history.recorded_handle`); one reused for a run a
        record describes (a board's rows over the ledger) takes it here. So a view of a run
        never loses its params, its override or its "rerun of" tag to a path that did not
        know them.

        >>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
        >>> run.take_record(params={}, command=None, rerun_of=None)
        >>> dict(run.params)
        {'lr': '0.1', 'epochs': '1'}
        """
        if params:
            self.params = dict(params)
        self.command = command or self.command
        self.rerun_of = rerun_of or self.rerun_of
        self._fqn = application_fqn or self._fqn

    def take(self, run: JobRun) -> None:
        """Take a fresh JobRun (from a poll, a refresh, the ledger) and tell every listener."""
        self._apply(run, None)

    def mark_stale(self, since: datetime) -> None:
        """Polls for this run have been failing since ``since``: tell every listener."""
        self._apply(None, since)

    def _apply(self, run: JobRun | None, stale_since: datetime | None) -> None:
        with self._lock:
            if run is not None:
                self._run = run
            self._stale_since = stale_since
            listeners = list(self._listeners)
            current = self._run
        if run is not None:
            self._fetch_events_on_end(current)
        if current.is_terminal:
            self._terminal.set()
        for listener in listeners:
            # One broken view must not stop the others, nor the tracker.
            with contextlib.suppress(Exception):
                listener(current, stale_since)

    @property
    def given_up(self) -> bool:
        """True once an UNKNOWN run has been polled long enough."""
        return (
            self._run.status == RunStatus.UNKNOWN
            and time.monotonic() - self._watch_started > UNKNOWN_GIVE_UP_SECONDS
        )

    # -- actions -----------------------------------------------------------------------

    def refresh(self) -> JobRun:
        """Fetch the run now, and its metrics (one search; its histories once it ended),
        and update every view of it."""
        app_id = self._require_application_id()
        client = self._backend.client
        run = client.get_run(app_id, self.name)
        # Before the views hear of the run, so they show its metrics with it: however the
        # run was started (a form, "Run again"), a refresh is where a view gets them.
        refresh_metrics(client, self, run)
        self._apply(run, None)
        self._backend.record_runs([run])
        return run

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_update: Callable[[JobRun], None] | None = None,
    ) -> JobRun:
        """Block until the run ends; returns the final JobRun.

        Raises :class:`TimeoutError` naming the run if ``timeout`` seconds pass
        first (the run keeps going). Ctrl-C stops the wait, not the run. ``on_update`` is
        called with the run as first seen and whenever its status changes.
        """

        def updated(runs: list[JobRun]) -> None:
            if on_update is not None:
                on_update(runs[0])

        return wait_for([self], timeout, on_update=updated, single=True)[0]

    def terminate(self) -> str:
        """Ask the server to stop the run; returns the server's message."""
        if not self.deployment_id:
            raise JobmagicError(
                f"Cannot terminate {self.name}: its deployment id is unknown. "
                "Attach it with `%job_run NAME --app TARGET` and try again."
            )
        message = self._backend.client.terminate(self.deployment_id, self.name)
        self._backend.tracker.watch(self)
        return message

    def rerun(
        self,
        params: Mapping[str, str] | None = None,
        /,
        *,
        command: str | None = None,
        alias: str | None = None,
        **changes: str,
    ) -> RunHandle:
        """Trigger the same job again with the same params, changed by ``changes``; returns
        the new run's handle (the ledger and its card say which run it repeats).

        The params are those the ledger recorded for this run, else the ones read back from
        its command (a run started outside jobmagic), else its command is sent again as an
        override. ``params`` gives changes whose names are not Python identifiers (or are
        ``command`` / ``alias``); ``command`` replaces the command instead.

        >>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
        >>> again = run.rerun(lr="0.2")
        >>> again.rerun_of == run.name, again.params
        (True, {'lr': '0.2', 'epochs': '1'})
        """
        return self._backend.rerun(
            self, {**(params or {}), **changes}, command=command, alias=alias
        )

    @property
    def can_rerun(self) -> bool:
        """Always: a handle's run can be triggered again (its card offers "Run again")."""
        return True

    def rerun_fields(self) -> RerunFields:
        """What a "Run again" form shows: the job's params with this run's values, and its
        command when it ran one (reads the ledger; the job's template if need be)."""
        return self._backend.rerun_fields(self)

    def logs(
        self,
        tail: int | None = None,
        *,
        since: datetime | int | LogCursor | None = None,
        limit: int | None = None,
        search: str | None = None,
        budget: int | None = PAGE_BUDGET_CHARS,
    ) -> LogPage:
        """One page of the run's log lines, oldest first (shown as a short table).

        ``tail=N`` gives the last N lines; otherwise up to ``limit`` lines (default
        :data:`~jobmagic.api.logs.MAX_PAGE_LINES`) from ``since``: a moment, or a page's
        ``next`` to go on after it. Either stops once its lines hold ``budget`` characters
        (at least one line; ``None``: no limit). :meth:`iter_logs` walks them all.

        >>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "3"})
        >>> _ = run.wait(timeout=60)
        >>> first = run.logs(limit=2)
        >>> [line.log[:7] for line in first], [line.log[:7] for line in run.logs(since=first.next)]
        (['epoch=1', 'epoch=2'], ['epoch=3'])
        """
        app_id = self._require_application_id()
        client = self._backend.client
        if tail is not None:
            limit, tailed = tail, True
        else:
            limit, tailed = (MAX_PAGE_LINES if limit is None else limit), False
        return client.logs(
            app_id, self.name, since=since, limit=limit, tail=tailed, search=search, budget=budget
        )

    def iter_logs(
        self,
        since: datetime | int | LogCursor | None = None,
        *,
        search: str | None = None,
        budget: int = PAGE_BUDGET_CHARS,
    ) -> Iterator[LogPage]:
        """Every page of the run's logs as it is now, oldest first, from ``since``; one page
        in memory at a time, each of at most ``budget`` characters and one line (pages start
        small and grow while lines are short). The last page's ``next`` is where new lines
        start.

        >>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "3"})
        >>> _ = run.wait(timeout=60)
        >>> [line.log[:7] for page in run.iter_logs() for line in page]
        ['epoch=1', 'epoch=2', 'epoch=3']
        """
        app_id = self._require_application_id()
        client = self._backend.client
        cursor, limit = since, FIRST_PAGE_LINES
        while True:
            page = client.logs(
                app_id, self.name, since=cursor, limit=limit, search=search, budget=budget
            )
            cursor, limit, full = page.next, next_page_lines(limit, page, budget=budget), page.full
            if page:
                yield page
            del page  # not held while the next one is fetched
            if not full:
                return

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(run, stale_since)`` on every poll tick until unsubscribed."""
        with self._lock:
            self._listeners.append(callback)
        if not self._run.is_terminal:
            self._backend.tracker.watch(self, pin=False)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)
                idle = not self._listeners
            if idle:
                # The last view or waiter left: nobody needs this handle polled any more.
                self._backend.tracker.release(self)

        return unsubscribe

    @property
    def has_listeners(self) -> bool:
        with self._lock:
            return bool(self._listeners)

    def _require_application_id(self) -> str:
        if not self.application_id:
            raise JobmagicError(
                f"The application of run {self.name} is unknown; "
                "attach it with `%job_run NAME --app TARGET`."
            )
        return self.application_id

    # -- display -----------------------------------------------------------------------

    @property
    def shows_card(self) -> bool:
        """Whether this run is shown as its live card (else as its static copy)."""
        return self._backend.show_cards

    def prepare_display(self) -> None:
        """Fetch, once, what a view of this run shows beyond its JobRun (views make no
        HTTP calls): why a run that had already failed ended (its events), and its metrics
        (one search)."""
        self._fetch_events_on_end(self._run)
        _ = self.metrics

    def __repr__(self) -> str:
        return f"<RunHandle {self.name} {self.status} app={self.application_fqn!r}>"
