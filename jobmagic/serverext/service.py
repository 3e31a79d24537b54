"""What the handlers do, without tornado: one :class:`RunsService` per server process.

Reads go through a read-only :class:`~jobmagic.ledger.Ledger` opened per request (a damaged
file is reported, never moved). Everything that talks to TrueFoundry goes through
jobmagic's own domain: one :class:`~jobmagic.domain.session.JobSession` per server, whose
credentials are jobmagic's own resolution (the environment, then TrueFoundry's credentials
file) and whose ledger is the one writer here (the refresher's, a rerun's). Its methods are
synchronous: the handlers run them in an executor, never on the server's event loop.

The TrueFoundry token never leaves this process: no answer carries it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmagic._version import __version__
from jobmagic.api.metrics import newest_values, search_app
from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.errors import ConfigError, JobmagicError, LedgerError, LedgerReason
from jobmagic.ledger import Ledger, LedgerEntry, LedgerQuery, default_ledger_path
from jobmagic.serverext.refresher import Refresher
from jobmagic.serverext.runs_json import (
    PageArgs,
    is_live,
    iso,
    log_lines,
    metric_values,
    notebook_place,
    run_row,
    series_values,
)
from jobmagic.serverext.text_index import TextIndex

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.config import Credentials

__all__ = ["Refused", "RunsService"]

#: How long a details view waits for TrueFoundry (histories, logs) before saying so.
DETAILS_TIMEOUT_S = 10.0


@dataclass
class Refused(Exception):
    """A request the service will not carry out: the HTTP status and the message."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


class RunsService:
    """The ledger path, the server's root, its one domain session and its one refresher.

    >>> import tempfile, pathlib
    >>> from jobmagic.serverext.runs_json import PageArgs
    >>> folder = tempfile.mkdtemp()
    >>> service = RunsService(root_dir=folder, ledger_path=pathlib.Path(folder) / "l.sqlite3",
    ...                       background=False)
    >>> answer = service.listing(PageArgs())
    >>> answer["runs"], answer["total"], "no run ledger" in answer["notice"].lower()
    ([], 0, True)
    >>> service.close()
    """

    def __init__(
        self,
        *,
        root_dir: str,
        ledger_path: str | Path | None = None,
        interval: float = 2.0,
        linger: float = 30.0,
        background: bool = True,
    ) -> None:
        self.root_dir = root_dir
        self.ledger_path = Path(ledger_path) if ledger_path else default_ledger_path()
        self._session = JobSession(Settings(ledger_path=str(self.ledger_path)))
        self._writer_lock = threading.Lock()
        self._text_index = TextIndex()
        self.refresher = Refresher(
            reader=self._reader,
            writer=self._writer,
            credentials=self.credentials,
            client_factory=self._new_client,
            interval=interval,
            linger=linger,
            background=background,
        )

    # -- plumbing ------------------------------------------------------------------------

    def credentials(self) -> Credentials | None:
        """What jobmagic's own resolution finds now (``None``: nothing anywhere)."""
        try:
            return self._session.credentials()
        except ConfigError:
            return None

    def _new_client(self, credentials: Credentials) -> JobsClient:
        from jobmagic.api import JobsClient

        settings = self._session.settings
        return JobsClient(
            credentials=credentials, timeout=settings.request_timeout, verify=settings.verify
        )

    def _writer(self) -> Ledger | None:
        """The session's writer ledger, once a kernel or script has created the file."""
        with self._writer_lock:
            if not self.ledger_path.exists():
                return None
            return self._session.ledger

    def _reader(self) -> Ledger:
        try:
            return Ledger(self.ledger_path, read_only=True)
        except LedgerError as error:
            if error.reason != LedgerReason.OLD_SCHEMA:
                raise
        # An older jobmagic's file (a reader never migrates): this server's writer brings it
        # up to date once, as a kernel's first trigger would, and it is read as usual.
        self._writer()
        return Ledger(self.ledger_path, read_only=True)

    def close(self) -> None:
        self.refresher.close()
        self._session.close()

    # -- reads ---------------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        return {"version": __version__, "ledger": str(self.ledger_path)}

    def status(self) -> dict[str, Any]:
        return {**self.version(), "refresher": self.refresher.snapshot()}

    def _refreshed(self, entries: Iterable[LedgerEntry]) -> dict[int, bool]:
        """Which live entries the refresher keeps current (their host has credentials here
        and their application answered in the last tick); ended runs count as current."""
        host = self.refresher.host()
        failed = self.refresher.failures()
        return {
            entry.id: not is_live(entry)
            or (
                host is not None
                and entry.host in (None, host)
                and (entry.application_id or "") not in failed
            )
            for entry in entries
        }

    def _rows(self, ledger: Ledger, entries: list[LedgerEntry]) -> list[dict[str, Any]]:
        keys = [(e.application_id, e.run_name) for e in entries if e.application_id and e.run_name]
        metrics = ledger.latest_metrics(keys)
        objectives: dict[str, str | None] = {}
        for sweep in {entry.sweep for entry in entries if entry.sweep}:
            record = ledger.sweep(sweep)
            objectives[sweep] = None if record is None else record.objective
        refreshed = self._refreshed(entries)
        return [
            run_row(
                entry,
                metrics=metrics.get((entry.application_id or "", entry.run_name or ""), {}),
                objective=objectives.get(entry.sweep or ""),
                refreshed=refreshed[entry.id],
            )
            for entry in entries
        ]

    def listing(self, args: PageArgs) -> dict[str, Any]:
        """``GET jobmagic/runs``: a page, newest first, with counts over the whole filter."""
        self.refresher.asked()
        query = LedgerQuery(statuses=args.statuses, sweep=args.sweep, text=args.text, app=args.app)
        try:
            with self._reader() as ledger:
                if query.text:
                    counts, entries = _scanned_page(ledger, self._narrowed(ledger, query), args)
                else:
                    counts = ledger.status_counts(query)
                    entries = ledger.page(query, offset=args.offset, size=args.limit)
                rows = self._rows(ledger, entries)
        except LedgerError as error:
            if error.reason == LedgerReason.MISSING:
                # No kernel has triggered a run yet: an empty ledger, said plainly.
                return {"runs": [], "total": 0, "counts": {}, "notice": str(error)}
            raise
        return {
            "runs": rows,
            "total": sum(counts.values()),
            "counts": counts,
            "refreshed_at": iso(self.refresher.refreshed_at),
            "host": self.refresher.host(),
        }

    def _narrowed(self, ledger: Ledger, query: LedgerQuery) -> LedgerQuery:
        """``query`` (a text search) limited to the attempts the text index proposes, when
        they are few enough to read by id; the LIKE clause still decides."""
        self._text_index.catch_up(ledger)
        proposed = self._text_index.candidates(query.text or "")
        if len(proposed) > NARROWED_CAP:
            return query
        return replace(query, ids=tuple(proposed))

    def _entry(self, attempt_id: int) -> tuple[LedgerEntry, dict[str, Any]]:
        try:
            with self._reader() as ledger:
                entry = ledger.get(attempt_id)
                return entry, self._rows(ledger, [entry])[0]
        except LedgerError as error:
            if error.reason == LedgerReason.NO_ATTEMPT:
                raise Refused(404, f"There is no run {attempt_id} in the ledger.") from None
            raise

    def _ours(self, entry: LedgerEntry, doing: str) -> Credentials:
        """The credentials for ``entry``'s host, or :class:`Refused` saying there are none."""
        credentials = self.credentials()
        if credentials is None or entry.host not in (None, credentials.host):
            where = entry.host or "its host"
            raise Refused(
                409,
                f"Cannot {doing}: this server has no TrueFoundry credentials for {where} "
                "(set TFY_HOST and TFY_API_KEY for the server, or run `tfy login`).",
            )
        if not entry.application_id or not entry.run_name:
            raise Refused(409, f"Cannot {doing}: the ledger does not know this run's job.")
        return credentials

    def details(self, attempt_id: int) -> dict[str, Any]:
        """``GET jobmagic/runs/ID``: the listed row, plus its command, the notebook it came
        from and each metric's history (asked of TrueFoundry when its host is ours)."""
        entry, row = self._entry(attempt_id)
        row.update(
            command=entry.command,
            alias=entry.alias,
            error_type=entry.error_type,
            notebook=notebook_place(entry.notebook, self.root_dir),
            history={},
            history_error=None,
        )
        try:
            credentials = self._ours(entry, "read its metric history")
        except Refused as refused:
            row["history_error"] = refused.message
            return row
        try:
            with self._new_client_short(credentials) as client:
                app_id, name = entry.application_id or "", entry.run_name or ""
                ml_runs = search_app(client, app_id, {name}).get(name, [])
                history: dict[str, list[float]] = {}
                for ml_run in ml_runs:
                    for key in ml_run.metrics:
                        points = client.metric_history(ml_run.run_id, key)
                        history[key] = [p.value for p in points if p.value is not None]
                latest = newest_values(ml_runs)
        except JobmagicError as exc:
            row["history_error"] = str(exc)
            return row
        row["history"] = {key: series_values(values) for key, values in history.items()}
        row["metrics"] = {**row["metrics"], **metric_values(latest)}
        return row

    def _new_client_short(self, credentials: Credentials) -> JobsClient:
        from jobmagic.api import JobsClient

        return JobsClient(
            credentials=credentials,
            timeout=DETAILS_TIMEOUT_S,
            verify=self._session.settings.verify,
        )

    def logs(self, attempt_id: int, tail: int) -> dict[str, Any]:
        """``GET jobmagic/runs/ID/logs?tail=N``: the last ``tail`` lines, oldest first."""
        entry, _row = self._entry(attempt_id)
        credentials = self._ours(entry, "read its logs")
        try:
            with self._new_client_short(credentials) as client:
                page = client.logs(
                    entry.application_id or "", entry.run_name or "", limit=tail, tail=True
                )
        except JobmagicError as exc:
            raise Refused(502, str(exc)) from None
        return {"id": entry.id, "name": entry.run_name, "lines": log_lines(page), "full": page.full}

    # -- writes --------------------------------------------------------------------------

    def terminate(self, attempt_id: int) -> dict[str, Any]:
        """``POST jobmagic/runs/ID/terminate``: ask TrueFoundry to stop the run; the
        refresher records its end (no second poller)."""
        entry, _row = self._entry(attempt_id)
        self._ours(entry, "terminate it")
        if not is_live(entry):
            ended = entry.run.status if entry.run is not None else entry.state
            raise Refused(409, f"Run {entry.run_name} has already ended ({ended}).")
        if not entry.deployment_id:
            raise Refused(409, f"Cannot terminate {entry.run_name}: its deployment id is unknown.")
        try:
            message = self._session.client.terminate(entry.deployment_id, entry.run_name or "")
        except JobmagicError as exc:
            raise Refused(502, str(exc)) from None
        self.refresher.asked()
        return {"id": entry.id, "name": entry.run_name, "message": message}

    def rerun(self, attempt_id: int, changes: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``POST jobmagic/runs/ID/rerun``: the same job with the same params (``changes``
        over them), through the domain's rerun: recorded in the ledger as a rerun of it."""
        entry, _row = self._entry(attempt_id)
        self._ours(entry, "run it again")
        if entry.run is None:
            raise Refused(409, "This attempt started no run: there is nothing to run again.")
        try:
            handle = self._session.handles_for_entries([entry], ask_server=False)[0]
            new = handle.rerun(dict(changes or {}))
        except JobmagicError as exc:
            raise Refused(400 if isinstance(exc, ValueError) else 502, str(exc)) from None
        self.refresher.asked()
        found = None
        writer = self._writer()
        if writer is not None:
            writer.flush()  # the acknowledgement, written now: the panel lists it at once
            if new.application_id:
                found = writer.entries_for_runs(
                    new.application_id, [new.name], host=self._session.host
                ).get(new.name)
        return {
            "id": None if found is None else found.id,
            "name": new.name,
            "rerun_of": entry.run_name,
        }


#: Up to how many attempts the in-memory index proposes, a text search reads those by id;
#: past that, reading every row in the file's own order costs less.
NARROWED_CAP = 10_000


def _scanned_page(
    ledger: Ledger, query: LedgerQuery, args: PageArgs
) -> tuple[dict[str, int], list[LedgerEntry]]:
    """The counts and the page of a query no index answers (a text search), from one scan
    of the ledger instead of two (a count, then a page): the page's ids and statuses of
    every match, then the page's entries by id."""
    counts: dict[str, int] = {}
    ids: list[int] = []
    end = args.offset + args.limit
    for index, (attempt_id, status, state) in enumerate(
        ledger.rows(query, ["id", "run_status", "state"])
    ):
        key = str(status) if status is not None else str(state).upper()
        counts[key] = counts.get(key, 0) + 1
        if args.offset <= index < end:
            ids.append(int(attempt_id))
    return dict(sorted(counts.items())), [ledger.get(attempt_id) for attempt_id in ids]
