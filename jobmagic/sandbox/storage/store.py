"""The sandbox's state in SQLite: runs, their log lines and events, surviving restarts.

One connection, guarded by a lock, is shared by the request threads, the runner's threads
and the log writer: SQLite serialises writers anyway, and one lock makes every method
atomic without ``database is locked`` retries. WAL keeps a crash from corrupting the file.

The schema only ever grows by whole tables created ``IF NOT EXISTS``, so opening a file
written by an older sandbox migrates it forward (``events`` arrived that way).

>>> import tempfile, pathlib
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "sandbox.db")
>>> run = store.create_run(
...     make_name=lambda: "hello-abcde", application_id="app-x", application_name="hello",
...     deployment_id="dep-x", deployment_version="1", command="echo hi", params={},
...     triggered_by="me", now_ms=1000)
>>> run.status, store.get_run("app-x", "hello-abcde") == run
('CREATED', True)
>>> store.close()
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from jobmagic.sandbox.storage.private import private_dir, touch_private
from jobmagic.sandbox.storage.records import (
    TERMINAL,
    EventRecord,
    LogRecord,
    RunEnd,
    RunRecord,
    RunStart,
    run_from_row,
)

__all__ = ["TERMINAL", "EventRecord", "LogRecord", "RunEnd", "RunRecord", "RunStart", "Store"]

SortKey = Literal["startTime", "duration", "deploymentVersion", "triggeredBy", "status"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    application_id TEXT NOT NULL,
    application_name TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    deployment_version TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    end_time_ms INTEGER,
    status TEXT NOT NULL,
    command TEXT NOT NULL,
    params_json TEXT NOT NULL,
    exit_code INTEGER,
    error TEXT,
    triggered_by TEXT NOT NULL,
    pid INTEGER,
    pid_start INTEGER,
    UNIQUE (application_id, name)
);
CREATE INDEX IF NOT EXISTS runs_by_app ON runs (application_id, created_at_ms);
-- A client following live runs lists them by status: without this, each such listing (and
-- its count) read every run the application ever had.
CREATE INDEX IF NOT EXISTS runs_by_app_status ON runs (application_id, status, created_at_ms);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs (run_id, time_ns, seq);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY,
    first_seen_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    type TEXT NOT NULL,
    message TEXT NOT NULL,
    category TEXT NOT NULL,
    on_container INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, time_ms, seq);
"""

_SORT_COLUMNS: Mapping[str, str] = {
    "startTime": "created_at_ms",
    "duration": "(COALESCE(end_time_ms, :now) - created_at_ms)",
    "deploymentVersion": "CAST(deployment_version AS INTEGER)",
    "triggeredBy": "triggered_by",
    "status": "status",
}


def new_run_id() -> str:
    # Unique, not secret (the API shows it): the random module, not a system call per run.
    return f"run-{random.getrandbits(64):016x}"


class Store:
    """Thread-safe access to the sandbox's SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        # Created 0600 before SQLite opens it, so it is never readable by others, even
        # briefly: job logs may be private. SQLite's WAL files take the file's mode.
        touch_private(self.path).close()
        self._lock = threading.RLock()
        # isolation_level=None: autocommit; transactions are opened explicitly where needed.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, held under the store's lock: for modules that keep their own
        tables in this file (the ML runs of :mod:`jobmagic.sandbox.service.ml.runs`)."""
        with self._lock:
            yield self._db

    @contextlib.contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        """One transaction, committed on success and rolled back on any error; call it
        holding the lock."""
        self._db.execute(begin)
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # --- runs ------------------------------------------------------------------------

    def create_run(
        self,
        *,
        make_name: Callable[[], str],
        application_id: str,
        application_name: str,
        deployment_id: str,
        deployment_version: str,
        command: str,
        params: Mapping[str, str],
        triggered_by: str,
        now_ms: int,
    ) -> RunRecord:
        """Insert a CREATED run with a fresh name from ``make_name`` (retried on a clash)."""
        run_id = new_run_id()
        with self._lock:
            for _attempt in range(20):
                name = make_name()
                try:
                    self._db.execute(
                        """INSERT INTO runs (id, name, application_id, application_name,
                               deployment_id, deployment_version, created_at_ms, status, command,
                               params_json, triggered_by)
                           VALUES (?, ?, ?, ?, ?, ?, ?, 'CREATED', ?, ?, ?)""",
                        (
                            run_id,
                            name,
                            application_id,
                            application_name,
                            deployment_id,
                            deployment_version,
                            now_ms,
                            command,
                            json.dumps(dict(params)),
                            triggered_by,
                        ),
                    )
                except sqlite3.IntegrityError:
                    continue  # the name is taken in this application: draw another
                # The row is exactly what was inserted: no need to read it back.
                return RunRecord(
                    id=run_id,
                    name=name,
                    application_id=application_id,
                    application_name=application_name,
                    deployment_id=deployment_id,
                    deployment_version=deployment_version,
                    created_at_ms=now_ms,
                    end_time_ms=None,
                    status="CREATED",
                    command=command,
                    params=dict(params),
                    exit_code=None,
                    error=None,
                    triggered_by=triggered_by,
                )
        raise RuntimeError("could not find a free run name")

    def get_run(self, application_id: str, name: str) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM runs WHERE application_id = ? AND name = ?", (application_id, name)
            ).fetchone()
        return run_from_row(row) if row else None

    def get_run_by_id(self, run_id: str) -> RunRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return run_from_row(row) if row else None

    def list_runs(
        self,
        application_id: str,
        *,
        statuses: Sequence[str] = (),
        triggered_by: Sequence[str] = (),
        versions: Sequence[str] = (),
        search_prefix: str | None = None,
        sort_by: SortKey = "startTime",
        order: Literal["asc", "desc"] = "desc",
        limit: int = 100,
        offset: int = 0,
        now_ms: int = 0,
    ) -> tuple[list[RunRecord], int]:
        """One page of an application's runs and the total number matching the filters."""
        where = ["application_id = :app"]  # every filter but the statuses
        args: dict[str, Any] = {"app": application_id, "now": now_ms}
        in_lists = {}
        for column, values in (
            ("status", statuses),
            ("triggered_by", triggered_by),
            ("deployment_version", versions),
        ):
            if values:
                names = [f"{column}{i}" for i in range(len(values))]
                in_lists[column] = f"{column} IN ({', '.join(':' + n for n in names)})"
                args.update(zip(names, values, strict=True))
        where += [in_list for column, in_list in in_lists.items() if column != "status"]
        if search_prefix:
            # substr instead of LIKE: no wildcard escaping, and case-sensitive like names are.
            where.append("substr(name, 1, :plen) = :prefix")
            args.update(plen=len(search_prefix), prefix=search_prefix)
        others = " AND ".join(where)
        clause = f"{others} AND {in_lists['status']}" if statuses else others
        direction = "ASC" if order == "asc" else "DESC"
        sort = _SORT_COLUMNS[sort_by]
        ordering = f"ORDER BY {sort} {direction}, seq {direction}"
        page = {**args, "limit": limit, "offset": offset, "reach": limit + offset}
        if statuses and sort_by == "startTime":
            # Newest (or oldest) first among some statuses: each status's runs are read in
            # order from runs_by_app_status, as far as the page reaches, and merged. One
            # query over runs_by_app would read every run the application ever had to find
            # its few live ones (what a client following live runs asks for every tick).
            per_status = " UNION ALL ".join(
                f"SELECT * FROM (SELECT * FROM runs WHERE {others} AND status = :status{i} "
                f"{ordering} LIMIT :reach)"
                for i in range(len(statuses))
            )
            query = f"SELECT * FROM ({per_status}) {ordering} LIMIT :limit OFFSET :offset"
        else:
            query = f"SELECT * FROM runs WHERE {clause} {ordering} LIMIT :limit OFFSET :offset"
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM runs WHERE {clause}", args).fetchone()
            rows = self._db.execute(query, page).fetchall()
        return [run_from_row(row) for row in rows], int(total[0])

    def active_runs(self) -> list[RunRecord]:
        """Runs not yet in a terminal state, oldest first."""
        marks = ", ".join("?" for _ in TERMINAL)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM runs WHERE status NOT IN ({marks}) ORDER BY seq", TERMINAL
            ).fetchall()
        return [run_from_row(row) for row in rows]

    def mark_running(
        self,
        run_id: str,
        pid: int,
        pid_start: int | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        """CREATED -> RUNNING with the process id; ``events`` (its start) are stored in the
        same transaction, and only if the run moved. True if it moved."""
        return self.mark_running_many([RunStart(run_id, pid, pid_start, events)])[0]

    def mark_running_many(self, starts: Sequence[RunStart]) -> list[bool]:
        """:meth:`mark_running` for many runs in one transaction (the launcher starts many
        per wake-up under load); whether each moved, in order."""
        moved = []
        with self._lock, self._transaction("BEGIN"):
            for start in starts:
                cursor = self._db.execute(
                    "UPDATE runs SET status = 'RUNNING', pid = ?, pid_start = ? "
                    "WHERE id = ? AND status = 'CREATED'",
                    (start.pid, start.pid_start, start.run_id),
                )
                moved.append(cursor.rowcount == 1)
            self._insert_events(
                [
                    event
                    for start, ran in zip(starts, moved, strict=True)
                    if ran
                    for event in start.events
                ]
            )
        return moved

    def transition(self, run_id: str, to: str, *, only_from: Iterable[str]) -> bool:
        """Move a run to status ``to`` if it is in one of ``only_from``; True if it moved."""
        sources = tuple(only_from)
        marks = ", ".join("?" for _ in sources)
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE runs SET status = ? WHERE id = ? AND status IN ({marks})",
                (to, run_id, *sources),
            )
        return cursor.rowcount == 1

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        end_time_ms: int,
        exit_code: int | None,
        error: str | None,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        """Record a run's end, unless it already ended (first writer wins).

        ``events`` (what the end looked like) are stored with it, in the same transaction
        and only if this call ended the run: a client that sees the terminal status and then
        asks for the events gets them, and a second writer adds no contradicting ones.
        """
        end = RunEnd(run_id, status, end_time_ms, exit_code, error, events)
        return self.finish_runs([end])[0]

    def finish_runs(self, ends: Sequence[RunEnd]) -> list[bool]:
        """:meth:`finish_run` for many runs in one transaction (the writer stores the ends
        queued at once together); whether each call ended its run, in order."""
        marks = ", ".join("?" for _ in TERMINAL)
        moved = []
        with self._lock, self._transaction():
            for end in ends:
                cursor = self._db.execute(
                    f"""UPDATE runs SET status = ?, end_time_ms = MAX(?, created_at_ms),
                            exit_code = ?, error = ?
                        WHERE id = ? AND status NOT IN ({marks})""",
                    (end.status, end.end_time_ms, end.exit_code, end.error, end.run_id, *TERMINAL),
                )
                moved.append(cursor.rowcount == 1)
            self._insert_events(
                [event for end, ran in zip(ends, moved, strict=True) if ran for event in end.events]
            )
        return moved

    def delete_run(self, run_id: str) -> bool:
        """Delete a terminal run and its logs; False if it is missing or still active."""
        marks = ", ".join("?" for _ in TERMINAL)
        with self._lock, self._transaction():
            cursor = self._db.execute(
                f"DELETE FROM runs WHERE id = ? AND status IN ({marks})", (run_id, *TERMINAL)
            )
            if cursor.rowcount:
                self._db.execute("DELETE FROM logs WHERE run_id = ?", (run_id,))
                self._db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
        return cursor.rowcount == 1

    # --- logs ------------------------------------------------------------------------

    def append_logs(self, records: Sequence[LogRecord]) -> None:
        """Insert log lines in one transaction."""
        if not records:
            return
        with self._lock, self._transaction("BEGIN"):
            self._db.executemany(
                "INSERT INTO logs (run_id, time_ns, stream, line) VALUES (?, ?, ?, ?)",
                [(r.run_id, r.time_ns, r.stream, r.line) for r in records],
            )

    def query_logs(
        self,
        run_ids: Sequence[str],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        search: str | None = None,
        descending: bool = False,
        limit: int = 5000,
        skip: int = 0,
    ) -> list[LogRecord]:
        """Log lines of some runs within [start_ns, end_ns], in time order (or reversed).

        ``skip`` is the API's ``numLogsToIgnore``: with ``start_ns``, the number of lines
        *at* ``start_ns`` (in order) left out — those a client paging by time has read — so
        a larger number never skips later lines; without it, the first ``skip`` lines.
        """
        if not run_ids:
            return []
        marks = ", ".join("?" for _ in run_ids)
        where = [f"run_id IN ({marks})"]
        args: list[Any] = list(run_ids)
        if start_ns is not None:
            where.append("time_ns >= ?")
            args.append(start_ns)
        if end_ns is not None:
            where.append("time_ns <= ?")
            args.append(end_ns)
        if search:
            where.append("instr(line, ?) > 0")
            args.append(search)
        offset = skip
        if skip and start_ns is not None:
            # The first `skip` lines of that time, as the same filters order them.
            where.append(
                f"seq NOT IN (SELECT seq FROM logs WHERE {' AND '.join(where)} AND time_ns = ? "
                "ORDER BY seq LIMIT ?)"
            )
            args.extend([*args, start_ns, skip])
            offset = 0
        direction = "DESC" if descending else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT run_id, time_ns, stream, line FROM logs WHERE {' AND '.join(where)} "
                f"ORDER BY time_ns {direction}, seq {direction} LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [LogRecord(row[0], row[1], row[2], row[3]) for row in rows]

    def run_ids(self, application_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM runs WHERE application_id = ?", (application_id,)
            ).fetchall()
        return [row[0] for row in rows]

    # --- events ----------------------------------------------------------------------

    def add_events(self, events: Sequence[EventRecord]) -> None:
        """Store events in one transaction."""
        if not events:
            return
        with self._lock, self._transaction("BEGIN"):
            self._insert_events(events)

    def _insert_events(self, events: Sequence[EventRecord]) -> None:
        self._db.executemany(
            """INSERT INTO events (run_id, time_ms, reason, type, message, category,
                   on_container) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [
                (e.run_id, e.time_ms, e.reason, e.type, e.message, e.category, e.on_container)
                for e in events
            ],
        )

    def query_events(
        self,
        application_id: str,
        *,
        run_names: Sequence[str] | None = None,
        start_ms: int,
        end_ms: int,
    ) -> list[EventRecord]:
        """An application's events within [start_ms, end_ms], oldest first; only those of
        the runs named in ``run_names`` when it is given."""
        where = ["r.application_id = ?", "e.time_ms >= ?", "e.time_ms <= ?"]
        args: list[Any] = [application_id, start_ms, end_ms]
        if run_names is not None:
            if not run_names:
                return []
            where.append(f"r.name IN ({', '.join('?' for _ in run_names)})")
            args.extend(run_names)
        with self._lock:
            rows = self._db.execute(
                "SELECT e.*, r.name AS run_name FROM events e JOIN runs r ON r.id = e.run_id "
                f"WHERE {' AND '.join(where)} ORDER BY e.time_ms, e.seq",
                args,
            ).fetchall()
        return [
            EventRecord(
                run_id=row["run_id"],
                time_ms=row["time_ms"],
                reason=row["reason"],
                type=row["type"],
                message=row["message"],
                category=row["category"],
                on_container=bool(row["on_container"]),
                seq=row["seq"],
                run_name=row["run_name"],
            )
            for row in rows
        ]

    # --- applications ----------------------------------------------------------------

    def first_seen(self, application_ids: Iterable[str], now_ms: int) -> dict[str, int]:
        """When each application was first served (recorded now if never), in ms."""
        ids = list(application_ids)
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO apps (id, first_seen_ms) VALUES (?, ?)",
                [(app_id, now_ms) for app_id in ids],
            )
            rows = self._db.execute("SELECT id, first_seen_ms FROM apps").fetchall()
        known = {row[0]: int(row[1]) for row in rows}
        return {app_id: known[app_id] for app_id in ids}
