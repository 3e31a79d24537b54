"""The server's one refresher: keeps the ledger's live runs current for every open panel.

One per server process, in a thread of its own (jobmagic's refresh is synchronous httpx).
Each tick reads the ledger's live runs (the status index, read-only), asks the server about those of
the host it has credentials for through jobmagic's own refresh
(:func:`jobmagic.domain.refresh.refresh_app`, the kernels' tracker's: one list call per
application when the runs are among its newest), and writes what changed to the ledger
with a writer :class:`~jobmagic.ledger.Ledger`, opened only when there is something to
write: a damaged file is reported by the read and never moved by a server that has
nothing to write (only a writer moves it aside).
Runs that ended in the tick get their latest metrics cached (one search per application).

Panels never make it ask the server: a request only says a panel is looking
(:meth:`Refresher.asked`), so N open panels cost what one does. It ticks every
``interval`` seconds while a panel asked within ``linger`` seconds or a run it can refresh
is live, and sleeps otherwise until a panel asks again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from jobmagic.api.metrics import fetch_metrics
from jobmagic.domain.refresh import LIVE_STATUSES, refresh_app
from jobmagic.errors import JobmagicError, LedgerError
from jobmagic.ledger import LedgerEntry, LedgerQuery
from jobmagic.models import JobRun
from jobmagic.serverext.runs_json import iso

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.config import Credentials
    from jobmagic.ledger import Ledger

__all__ = ["LIVE_QUERY", "MAX_BY_NAME", "Refresher", "TickReport"]

logger = logging.getLogger("jobmagic.serverext")

#: The ledger's live runs, read from its status index.
LIVE_QUERY = LedgerQuery(statuses=tuple(str(status) for status in LIVE_STATUSES))
#: The most runs asked for by name in one tick (as the kernels' tracker): the others wait
#: their turn, so a tick never makes thousands of requests.
MAX_BY_NAME = 16


@dataclass
class TickReport:
    """What one tick did: live runs seen, those it could ask about, the applications
    listed, the runs written, and the applications it could not ask about (with why)."""

    live: int = 0
    refreshable: int = 0
    applications: int = 0
    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def _wanted(entry: LedgerEntry) -> JobRun | None:
    """The entry's run, with its application id (a refresh groups by it)."""
    run = entry.run
    if run is None or not entry.application_id or not entry.run_name:
        return None
    if run.application_id == entry.application_id and run.name == entry.run_name:
        return run
    return replace(run, application_id=entry.application_id, name=entry.run_name)


class Refresher:
    """Refreshes the ledger's live runs while someone looks (see the module docstring).

    ``reader`` opens a read-only ledger (the caller closes it: a :class:`LedgerError` when
    it cannot be read); ``writer`` gives the writer ledger, or ``None`` while the file does
    not exist (the refresher never creates one); ``credentials`` the host and token jobmagic's own
    resolution finds now (``None``: none); ``client_factory`` builds a client for them.
    With ``background=False`` no thread is started: the caller drives :meth:`tick`.

    >>> import tempfile, pathlib
    >>> from jobmagic.ledger import Ledger
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3"
    >>> refresher = Refresher(reader=lambda: Ledger(path, read_only=True), writer=lambda: None,
    ...                       credentials=lambda: None, client_factory=None, background=False)
    >>> report = refresher.tick()  # no ledger yet: nothing to ask, and it is said
    >>> report.live, list(report.failed)
    (0, ['ledger'])
    """

    def __init__(
        self,
        *,
        reader: Callable[[], Ledger],
        writer: Callable[[], Ledger | None],
        credentials: Callable[[], Credentials | None],
        client_factory: Callable[[Credentials], JobsClient],
        interval: float = 2.0,
        linger: float = 30.0,
        background: bool = True,
    ) -> None:
        self._background = background
        self._reader = reader
        self._writer = writer
        self._credentials = credentials
        self._client_factory = client_factory
        self.interval = float(interval)
        self.linger = float(linger)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: tuple[Credentials, JobsClient] | None = None
        self._asked_at = -float("inf")
        self._dormant = True
        self._live_refreshable = 0
        self._failed: dict[str, str] = {}
        self._refreshed_at: datetime | None = None
        self.ticks_started = 0
        self.ticks_done = 0

    # -- what the handlers see -----------------------------------------------------------

    def asked(self) -> None:
        """A panel is looking: tick on schedule for the next ``linger`` seconds. Never makes
        a tick of its own beyond waking a sleeping refresher: N requests cost one tick."""
        with self._lock:
            self._asked_at = time.monotonic()
            if self._stopped.is_set() or not self._background:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="jobmagic-serverext-refresher", daemon=True
                )
                self._dormant = False
                self._thread.start()
            elif self._dormant:
                self._dormant = False
                self._wake.set()

    def host(self) -> str | None:
        """The host whose runs are refreshed (jobmagic's credentials), or ``None``."""
        credentials = self._credentials()
        return None if credentials is None else credentials.host

    def failures(self) -> dict[str, str]:
        """The applications the last tick could not ask about, with why."""
        with self._lock:
            return dict(self._failed)

    def snapshot(self) -> dict[str, Any]:
        """The refresher's state for ``GET jobmagic/status`` (never the token)."""
        with self._lock:
            return {
                "host": self.host(),
                "interval": self.interval,
                "linger": self.linger,
                "active": self._thread is not None and not self._dormant,
                "ticks_started": self.ticks_started,
                "ticks_done": self.ticks_done,
                "live_refreshable": self._live_refreshable,
                "refreshed_at": iso(self._refreshed_at),
                "failed": dict(self._failed),
            }

    @property
    def refreshed_at(self) -> datetime | None:
        return self._refreshed_at

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and close its client (the server is shutting down)."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._client is not None:
            self._client[1].close()
            self._client = None

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopped.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # a bad tick must not end the refresher for good
                logger.exception("jobmagic's server refresher failed a tick")
            with self._lock:
                looking = time.monotonic() - self._asked_at < self.linger
                if not looking and not self._live_refreshable:
                    self._dormant = True
                    self._wake.clear()
            if self._dormant:
                self._wake.wait()  # until a panel asks again (or the server stops)
                self._wake.clear()
                continue
            # The next tick `interval` after this one began, whatever asked in between.
            self._stopped.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _client_for(self, credentials: Credentials) -> JobsClient:
        current = self._client
        if current is not None and current[0] == credentials:
            return current[1]
        if current is not None:
            current[1].close()
        client = self._client_factory(credentials)
        self._client = (credentials, client)
        return client

    def tick(self) -> TickReport:
        """One round: at most one list call per application with live runs of the host
        jobmagic has credentials for (more only for runs missing from its newest page)."""
        with self._lock:
            self.ticks_started += 1
            rotation = self.ticks_started * MAX_BY_NAME
        report = TickReport()
        try:
            self._tick(report, rotation)
        finally:
            with self._lock:
                self.ticks_done += 1
                self._failed = dict(report.failed)
                self._live_refreshable = report.refreshable
                self._refreshed_at = datetime.now(timezone.utc)
        return report

    def _tick(self, report: TickReport, rotation: int) -> None:
        try:
            with self._reader() as reader:
                entries = reader.page(LIVE_QUERY, size=None)
        except LedgerError as error:
            report.failed["ledger"] = str(error)  # missing or damaged: the panel says so
            return
        report.live = len(entries)
        credentials = self._credentials()
        if credentials is None or not entries:
            return
        groups: dict[str, list[JobRun]] = {}
        for entry in entries:
            run = _wanted(entry)
            if run is not None and entry.host in (None, credentials.host):
                groups.setdefault(entry.application_id or "", []).append(run)
        report.refreshable = sum(len(runs) for runs in groups.values())
        if not groups:
            return
        client = self._client_for(credentials)
        changed: list[JobRun] = []
        ended: list[JobRun] = []
        for app_id, wanted in groups.items():
            if self._stopped.is_set():
                return
            report.applications += 1
            try:
                fresh = refresh_app(
                    client,
                    app_id,
                    wanted,
                    by_name_limit=MAX_BY_NAME,
                    rotation=rotation,
                    stopped=self._stopped.is_set,
                )
            except JobmagicError as exc:
                report.failed[app_id] = str(exc)
                continue
            for before in wanted:
                run = fresh.get(before.name)
                if run is None:
                    continue
                run = run if run.application_id else replace(run, application_id=app_id)
                if run != before:
                    changed.append(run)
                    if run.is_terminal:
                        ended.append(run)
        ledger = self._writer() if changed else None
        if ledger is not None:
            report.written = ledger.update_runs(changed)
            if ended:
                self._cache_metrics(client, ledger, ended)
        # Still live after the tick: what keeps the refresher awake without a panel.
        report.refreshable -= len(ended)

    def _cache_metrics(self, client: JobsClient, ledger: Ledger, runs: list[JobRun]) -> None:
        """The latest metrics of runs that just ended, into the ledger's cache (one search
        per application); metrics are extra: a failure leaves the cache as it was."""
        with contextlib.suppress(JobmagicError, ValueError):
            found = fetch_metrics(runs, client=client)
            rows = [
                (run.application_id or "", run.name, name, value, None)
                for run, result in zip(runs, found, strict=True)
                for name, value in result.latest.items()
            ]
            if rows:
                ledger.set_metrics(rows)
