"""The ledger's reads: entries, pages, counts per status, raw columns for frames."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._entries import LedgerEntry, entry_from_row
from jobmagic.ledger._query import LedgerQuery, value_tuple
from jobmagic.ledger._schema import COLUMNS, ROW_COLUMNS

__all__ = ["LedgerReads"]

_T = TypeVar("_T")


class LedgerReads:
    """The reading half of :class:`~jobmagic.ledger.Ledger`: every read is a function of a
    connection, run by :meth:`_read` on a connection of its own (see the Ledger), which
    turns SQLite's errors into :class:`LedgerError` and may run it again on a new file."""

    def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        raise NotImplementedError

    def known_run_names(self, application_id: str, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are runs of ``application_id`` some attempt already owns."""
        wanted = sorted({name for name in names if name})

        def work(conn: sqlite3.Connection) -> set[str]:
            known: set[str] = set()
            # Chunked: SQLite bounds the number of parameters of one statement.
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    "SELECT run_name FROM attempts WHERE application_id = ? AND run_name IN "
                    f"({', '.join('?' * len(chunk))})",
                    (application_id, *chunk),
                ).fetchall()
                known.update(row["run_name"] for row in rows)
            return known

        return self._read(work)

    def entries_for_runs(
        self, application_id: str, names: Iterable[str], *, host: str | None = None
    ) -> dict[str, LedgerEntry]:
        """The newest attempt that owns each of ``names`` (runs of ``application_id``).

        With ``host``, attempts recorded against another host are left out: the sandbox's
        application ids are the same on every machine, so an id alone can name another
        server's run. Names no attempt owns are absent from the answer.
        """
        wanted = sorted({name for name in names if name})
        host_clause = "" if host is None else " AND (host = ? OR host IS NULL)"

        def work(conn: sqlite3.Connection) -> dict[str, LedgerEntry]:
            found: dict[str, LedgerEntry] = {}
            # Chunked: SQLite bounds the number of parameters of one statement.
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM attempts WHERE application_id = ? AND run_name IN "
                    f"({', '.join('?' * len(chunk))}){host_clause} "
                    "ORDER BY created_at ASC, id ASC",
                    (application_id, *chunk, *(() if host is None else (host,))),
                ).fetchall()
                # Oldest first, so the newest attempt of a name is the one kept.
                found.update((row["run_name"], entry_from_row(row)) for row in rows)
            return found

        return self._read(work)

    def get(self, attempt_id: int) -> LedgerEntry:
        """One attempt by id; :class:`LedgerError` if there is none."""
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {COLUMNS} FROM attempts WHERE id = ?", (attempt_id,)
            ).fetchone()
        )
        if row is None:
            raise LedgerError(
                f"The run ledger has no attempt {attempt_id}.", reason=LedgerReason.NO_ATTEMPT
            )
        return entry_from_row(row)

    def entries(
        self,
        *,
        session_id: str | None = None,
        application_id: str | None = None,
        statuses: Iterable[str] | str | None = None,
        states: Iterable[str] | str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        """Attempts, newest first, filtered by every argument given.

        ``statuses`` are run statuses (``"RUNNING"``, ``RunStatus.FAILED``, …)
        and match only attempts with a run; ``states`` are attempt states
        (``"pending"``, ``AttemptState.UNKNOWN``, …). ``since`` keeps attempts
        created at or after that moment (a naive datetime is taken as UTC).

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     _ = ledger.record_attempt(host="h", target="train", session_id="s1")
        ...     [e.state for e in ledger.entries(session_id="s1", states=["pending"])]
        [<AttemptState.PENDING: 'pending'>]
        """
        query = LedgerQuery(
            session_id=session_id,
            application_id=application_id,
            statuses=value_tuple(statuses),
            states=value_tuple(states),
            since=since,
            limit=limit,
        )
        return self.page(query, size=None)

    def page(
        self, query: LedgerQuery = LedgerQuery(), *, offset: int = 0, size: int | None = 50
    ) -> list[LedgerEntry]:
        """One page of the attempts ``query`` matches: ``size`` of them (``None``: all)
        from ``offset``, newest first. SQL ``LIMIT``/``OFFSET`` on the creation-time index.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ids = [ledger.record_attempt(host="h", target=f"t{i}") for i in range(5)]
        ...     [e.target for e in ledger.page(LedgerQuery(), offset=1, size=2)]
        ['t3', 't2']
        """
        sql, args = query.select(COLUMNS, offset=offset, size=size)
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [entry_from_row(row) for row in rows]

    def count(self, query: LedgerQuery = LedgerQuery()) -> int:
        """How many attempts ``query`` matches (within its ``limit``)."""
        return sum(self.status_counts(query).values())

    def status_counts(self, query: LedgerQuery = LedgerQuery()) -> dict[str, int]:
        """How many matching attempts there are per run status; an attempt without a run
        counts under its state in capitals (``PENDING``, ``REJECTED``, …).

        One ``COUNT … GROUP BY``; with no filter it reads only the status index.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> from jobmagic.models import JobRun, RunStatus
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ids = [ledger.record_attempt(host="h", target="t") for _ in range(3)]
        ...     ledger.record_acknowledged(ids[0], JobRun(name="r", status=RunStatus.FAILED))
        ...     ledger.status_counts()
        {'FAILED': 1, 'PENDING': 2}
        """
        if query.limit is None:
            where, args = query.where()
            sql = "SELECT run_status, state, COUNT(*) FROM attempts" + (
                f" WHERE {where}" if where else ""
            )
        else:
            # Counts of the newest `limit` only: group the limited rows.
            inner, args = query.select("run_status, state")
            sql = f"SELECT run_status, state, COUNT(*) FROM ({inner})"
        # Grouped by the index's own columns (in its order: no sort), merged here: a third of
        # the time of grouping by COALESCE(run_status, UPPER(state)) over 100k attempts.
        sql += " GROUP BY run_status, state"
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        counts: dict[str, int] = {}
        for status, state, count in rows:
            key = str(status) if status is not None else str(state).upper()
            counts[key] = counts.get(key, 0) + int(count)
        return dict(sorted(counts.items()))

    def ids_in_states(self, states: Iterable[str]) -> set[int]:
        """The ids of the attempts in ``states``, from the state index alone (no row read).

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     attempt = ledger.record_attempt(host="h", target="t")
        ...     ledger.ids_in_states(["pending"]) == {attempt}, ledger.ids_in_states(["unknown"])
        (True, set())
        """
        wanted = sorted(set(states))
        sql = f"SELECT id FROM attempts WHERE state IN ({', '.join('?' * len(wanted))})"
        rows = self._read(lambda conn: conn.execute(sql, wanted).fetchall())
        return {int(row[0]) for row in rows}

    def text_rows(self, after: int, ids: Iterable[int] = ()) -> list[tuple[Any, ...]]:
        """``(id, state, run_name, target, application_fqn, sweep, params_json)`` of every
        attempt with an id above ``after``, and of ``ids``, by id: what a text index outside
        the file (the server extension's) reads to catch up. A search by the primary key.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     first, second = (ledger.record_attempt(host="h", target=t) for t in "ab")
        ...     [row[:4] for row in ledger.text_rows(first)]
        [(2, 'pending', None, 'b')]
        """
        wanted = sorted(set(ids))
        # Two searches by the primary key (one `id > ? OR id IN …` is a scan of the table).
        columns = "id, state, run_name, target, application_fqn, sweep, params_json"
        sql = (
            f"SELECT {columns} FROM attempts WHERE id > ? UNION "
            f"SELECT {columns} FROM attempts WHERE id IN (SELECT value FROM json_each(?)) "
            "ORDER BY id"
        )

        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursor = conn.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, (after, json.dumps(wanted))).fetchall()

        return self._read(work)

    def rows(self, query: LedgerQuery, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """The raw values of ``columns`` (names from :data:`ROW_COLUMNS`) of every matching
        attempt, newest first, as plain tuples: JSON stays text and times stay ISO text, for
        readers that convert whole columns at once (:func:`jobmagic.frames.ledger_frame`)."""
        unknown = [name for name in columns if name not in ROW_COLUMNS]
        if unknown:
            raise ValueError(f"Ledger.rows: no column {unknown[0]!r}; use {sorted(ROW_COLUMNS)}")
        sql, args = query.select(", ".join(columns))

        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursor = conn.cursor()
            cursor.row_factory = None  # tuples: no Row object per attempt
            return cursor.execute(sql, args).fetchall()

        return self._read(work)
