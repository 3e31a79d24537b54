"""The ledger's experiments: named sweeps, their summaries and entries, and the metric
cache (each run's latest value per metric)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from jobmagic.ledger._commits import Commits
from jobmagic.ledger._connections import transaction
from jobmagic.ledger._entries import LedgerEntry, entry_from_row, iso_text, utcnow
from jobmagic.ledger._metric_cache import UPSERT_METRIC, keys_sql, metric_rows
from jobmagic.ledger._schema import COLUMNS
from jobmagic.ledger._sweeps import (
    INSERT_SWEEP,
    SWEEP_COLUMNS,
    SweepRecord,
    SweepSummary,
    best_sql,
    counts_sql,
    objective_of,
    sweep_from_row,
    sweep_values,
)

__all__ = ["LedgerExperiments"]

#: Keys per statement: SQLite bounds a statement's parameters (999 before 3.32).
_CHUNK = 400

RunKey = tuple[str, str]
_T = TypeVar("_T")


class LedgerExperiments(Commits):
    """Sweeps and cached metrics, on the Ledger's connections (see the Ledger)."""

    # -- sweeps

    def add_sweep(self, record: SweepRecord) -> SweepRecord:
        """Store ``record`` under its name, or, if that name is taken, leave the stored
        sweep as it is; either way the stored one is returned (compare it with ``record``
        to refuse a name reused for another sweep). ``created_at`` is kept to the
        microsecond and the space as canonical JSON (sorted keys).

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger, SweepRecord
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     first = ledger.add_sweep(SweepRecord("lr-scan", "grid", space={"lr": [1, 2]}))
        ...     again = ledger.add_sweep(SweepRecord("lr-scan", "search", space={}))
        ...     again == first, again.kind, dict(again.space)
        (True, 'grid', {'lr': [1, 2]})
        """
        values = sweep_values(record)

        def work(conn: sqlite3.Connection) -> sqlite3.Row:
            with transaction(conn):
                conn.execute(INSERT_SWEEP, values)
                row: sqlite3.Row = conn.execute(
                    f"SELECT {SWEEP_COLUMNS} FROM sweeps WHERE name = ?", (record.name,)
                ).fetchone()
            return row

        return sweep_from_row(self._run_write(work))

    def sweep(self, name: str) -> SweepRecord | None:
        """The sweep stored under ``name``, or ``None``."""
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {SWEEP_COLUMNS} FROM sweeps WHERE name = ?", (name,)
            ).fetchone()
        )
        return None if row is None else sweep_from_row(row)

    def sweep_summaries(
        self, limit: int | None = None, *, goals: Mapping[str, str] | None = None
    ) -> list[SweepSummary]:
        """Every sweep (the newest ``limit``), newest first, with its attempts per run
        status, their number, and the best cached value of its objective among its runs
        (by the objective's goal; ``None`` without an objective, a known direction or a
        cached value). An objective stored without its goal takes it from ``goals`` (the
        user's ``metric_goals``), then from the defaults. Three statements, whatever the
        number of runs: the counts and the best values are read from an index, not from
        the attempts' rows.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger, SweepRecord
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     _ = ledger.add_sweep(SweepRecord("s1", "runs", objective="loss:min"))
        ...     _ = ledger.record_attempt(host="h", target="t", sweep="s1")
        ...     [(s.record.name, s.counts, s.runs, s.best) for s in ledger.sweep_summaries()]
        [('s1', {'PENDING': 1}, 1, None)]
        """
        sql = f"SELECT {SWEEP_COLUMNS} FROM sweeps ORDER BY created_at DESC, name DESC"
        args: list[int] = []
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, int(limit)))

        def work(conn: sqlite3.Connection) -> list[SweepSummary]:
            cursor = conn.cursor()
            cursor.row_factory = None  # tuples: no Row object per line
            records = [sweep_from_row(row) for row in cursor.execute(sql, args).fetchall()]
            if not records:
                return []
            names = [record.name for record in records]
            counts: dict[str, dict[str, int]] = {name: {} for name in names}
            # All sweeps: one pass over the index; a page: only its sweeps.
            chunks: Sequence[list[str] | None] = [None] if limit is None else _chunks(names)
            for chunk in chunks:
                for sweep, status, state, count in cursor.execute(*counts_sql(chunk)):
                    if sweep in counts:
                        # As status_counts: an attempt without a run counts under its state.
                        key = str(status) if status is not None else str(state).upper()
                        counts[sweep][key] = counts[sweep].get(key, 0) + int(count)
            objectives = {r.name: o for r in records if (o := objective_of(r, goals)) is not None}
            best: dict[str, float] = {}
            wanted = [(name, objective.metric) for name, objective in objectives.items()]
            for start in range(0, len(wanted), _CHUNK):
                pairs = wanted[start : start + _CHUNK]
                for sweep, low, high in cursor.execute(*best_sql(pairs)):
                    best[sweep] = low if objectives[sweep].minimize else high
            return [
                SweepSummary(
                    record=record,
                    counts=dict(sorted(counts[record.name].items())),
                    runs=sum(counts[record.name].values()),
                    best=best.get(record.name),
                )
                for record in records
            ]

        return self._read(work)

    def sweep_entries(self, name: str) -> list[LedgerEntry]:
        """The attempts of the sweep ``name``, in the order they were made (oldest first)."""
        sql = f"SELECT {COLUMNS} FROM attempts WHERE sweep = ? ORDER BY created_at, id"

        def work(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
            cursor = conn.cursor()
            cursor.row_factory = None  # tuples: no Row object per attempt
            return cursor.execute(sql, (name,)).fetchall()

        return [entry_from_row(row) for row in self._read(work)]

    # -- the metric cache

    def set_metrics(self, values: Iterable[tuple[str, str, str, float, int | None]]) -> int:
        """Cache each run's latest metric values: ``(application_id, run_name, metric,
        value, step)`` rows, in one transaction. A row is written only when its value or
        step changed, so a refresh with nothing new writes nothing; returns how many rows
        were written.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ledger.set_metrics([("app", "r1", "loss", 0.5, 1), ("app", "r1", "acc", 0.9, 1)])
        ...     ledger.set_metrics([("app", "r1", "loss", 0.5, 1), ("app", "r1", "acc", 0.8, 2)])
        ...     ledger.latest_metrics([("app", "r1"), ("app", "r2")])
        2
        1
        {('app', 'r1'): {'acc': 0.8, 'loss': 0.5}}
        """
        rows = metric_rows(values, iso_text(utcnow()))
        if not rows:
            return 0

        def work(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                # executemany's rowcount sums each row's changes: an unchanged one adds 0.
                return conn.executemany(UPSERT_METRIC, rows).rowcount

        return self._run_write(work)

    def latest_metrics(self, keys: Iterable[RunKey]) -> dict[RunKey, dict[str, float]]:
        """The cached metrics of each run of ``keys`` ((application id, run name) pairs),
        by metric name (a NaN the run logged reads as NaN); runs with none are absent."""
        wanted = sorted({(str(app), str(run)) for app, run in keys if app and run})

        def work(conn: sqlite3.Connection) -> dict[RunKey, dict[str, float]]:
            cursor = conn.cursor()
            cursor.row_factory = None
            found: dict[RunKey, dict[str, float]] = {}
            for chunk in _chunks(wanted):
                for app, run, name, value in cursor.execute(*keys_sql(chunk)):
                    found.setdefault((app, run), {})[name] = (
                        float("nan") if value is None else float(value)
                    )
            return {key: dict(sorted(found[key].items())) for key in sorted(found)}

        return self._read(work)

    def sweep_metrics(self, name: str) -> dict[RunKey, dict[str, float]]:
        """:meth:`latest_metrics` of every run of the sweep ``name``, in one statement."""
        sql = (
            "SELECT m.application_id, m.run_name, m.name, m.value FROM attempts AS a "
            "INDEXED BY attempts_by_sweep_status JOIN run_metrics AS m "
            "ON m.application_id = a.application_id AND m.run_name = a.run_name "
            "WHERE a.sweep = ?"
        )

        def work(conn: sqlite3.Connection) -> dict[RunKey, dict[str, float]]:
            cursor = conn.cursor()
            cursor.row_factory = None
            found: dict[RunKey, dict[str, float]] = {}
            for app, run, metric, value in cursor.execute(sql, (name,)):
                found.setdefault((app, run), {})[metric] = (
                    float("nan") if value is None else float(value)
                )
            return found

        return self._read(work)


def _chunks(items: list[_T]) -> list[list[_T]]:
    return [items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK)]
