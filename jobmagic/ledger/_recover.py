"""Getting runs back from a damaged ledger: every row SQLite can still read, of any schema
version, copied into the current ledger.

The damaged file is never opened by SQLite itself: a copy of it (and of its ``-wal``, which
holds its last commits) is read from a temporary folder, so not one byte of it changes.
A table whose pages are damaged is read as far as SQLite lets it: a full scan first, then
what the scan could not reach by ranges of ids, halved down to single ids where they fail.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._entries import AttemptState, parse_iso, refuse_bearer
from jobmagic.ledger._errors import ledger_error
from jobmagic.ledger._schema import ROW_COLUMNS
from jobmagic.ledger._sweeps import INSERT_SWEEP, SWEEP_COLUMNS, sweep_from_row, sweep_values

__all__ = [
    "PARTIAL",
    "Copied",
    "LedgerRecovery",
    "Readout",
    "copy_attempts",
    "copy_sweeps",
    "highest_id",
    "read_attempts",
]

#: The attempts whose outcome is still to be settled against the server (reconcile's).
UNSETTLED = frozenset(
    {AttemptState.PENDING.value, AttemptState.UNKNOWN.value, AttemptState.AMBIGUOUS.value}
)
_STATES = frozenset(state.value for state in AttemptState)
#: Ids read per range once a full scan has failed; a failing range is halved.
RANGE = 512
#: The columns that make one attempt the same as another, whatever its id.
_SAME_ATTEMPT = ("created_at", "host", "target", "session_id", "params_json")

Row = dict[str, Any]
_SWEEP_NAMES = tuple(name.strip() for name in SWEEP_COLUMNS.split(","))


@dataclass(frozen=True)
class LedgerRecovery:
    """What :meth:`Ledger.recover` did.

    ``recovered`` attempts were copied, ``partial`` of them rebuilt from the file's indexes
    alone (their run name, application and status kept; target, params and command lost);
    ``already_present`` were in the ledger already (the same attempt, or an attempt of the
    same run); ``unreadable`` could not be read (damaged pages) or were not fit to keep.
    ``to_reconcile`` are the ids, in the ledger, of copied attempts whose outcome was never
    settled (pending, unknown, ambiguous): pass them to ``JobSession.reconcile``.

    >>> print(LedgerRecovery(Path("old.sqlite3"), 5, 10, 2, 3, (11, 12), partial=0))
    Recovered 10 runs from old.sqlite3 (2 were already in the ledger, 3 could not be read); 2 to
    settle against the server.
    """

    source: Path
    schema_version: int
    recovered: int
    already_present: int
    unreadable: int
    to_reconcile: tuple[int, ...]
    partial: int = 0

    def __str__(self) -> str:
        partly = f", {self.partial} of them in part" if self.partial else ""
        return (
            f"Recovered {self.recovered} runs from {self.source}{partly} "
            f"({self.already_present} were already in the ledger, {self.unreadable} could not "
            f"be read); {len(self.to_reconcile)} to settle against the server."
        )


# --- reading the damaged file -------------------------------------------------------------


@dataclass(frozen=True)
class Readout:
    """What :func:`read_attempts` could read of a file: ``rows`` (column -> value), of which
    ``partial`` were rebuilt from the indexes alone, how many were ``unreadable``, and the
    file's schema ``version``."""

    rows: list[Row]
    partial: int
    unreadable: int
    version: int
    #: The file's named sweeps (schema 6 on), as far as they can be read.
    sweeps: list[Row] = field(default_factory=list)


def read_attempts(path: Path, ids: Sequence[int] | None = None) -> Readout:
    """Every readable attempt of the ledger file at ``path`` (only ``ids`` if given).

    Raises :class:`LedgerError` when nothing of it can be read (no attempts table found).
    """
    if not path.is_file():
        raise LedgerError(
            f"There is no ledger file at {path} to recover runs from.",
            reason=LedgerReason.MISSING,
            hint="Give the path the notice named (`<ledger>.damaged-<time>`).",
            path=path,
        )
    try:
        with tempfile.TemporaryDirectory(prefix="jobmagic-recover-") as folder:
            copy = Path(folder) / "ledger.sqlite3"
            shutil.copyfile(path, copy)
            log = Path(f"{path}-wal")
            if log.is_file():  # the -shm is not needed: SQLite rebuilds it from the log
                shutil.copyfile(log, Path(f"{copy}-wal"))
            _pad(copy)
            conn = sqlite3.connect(copy, isolation_level=None)
            try:
                readout = _read_all(conn, path, ids)
                return readout if ids is not None else replace(readout, sweeps=_sweeps(conn))
            finally:
                conn.close()
    except OSError as exc:
        # Reading the file, or copying it to the temporary folder (which may be full).
        where = Path(exc.filename) if isinstance(exc.filename, str) else path
        raise ledger_error(where, exc, "copied for recovery") from exc


def _sweeps(conn: sqlite3.Connection) -> list[Row]:
    """Every readable row of the file's sweeps table (none before schema 6)."""
    rows: list[Row] = []
    try:
        for values in conn.execute(f"SELECT {SWEEP_COLUMNS} FROM sweeps"):
            rows.append(dict(zip(_SWEEP_NAMES, values, strict=True)))
    except sqlite3.Error:
        pass  # no such table (an older schema), or damaged from here on: keep what was read
    return rows


def _pad(copy: Path) -> None:
    """Lengthen a file cut short to the size its header gives, with empty pages: SQLite
    then reads its schema and every page still there, instead of refusing the whole file."""
    with open(copy, "r+b") as file:
        header = file.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            return
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        expected = int.from_bytes(header[28:32], "big") * page_size
        actual = file.seek(0, 2)
        if actual < expected and page_size >= 512:
            file.truncate(expected)  # the new bytes read as zeros


def _read_all(conn: sqlite3.Connection, path: Path, ids: Sequence[int] | None) -> Readout:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        present = [str(row[1]) for row in conn.execute("PRAGMA table_info(attempts)")]
    except sqlite3.Error as exc:
        raise LedgerError(
            f"No run can be read from {path}: SQLite cannot read its list of tables ({exc}).",
            reason=LedgerReason.DAMAGED,
            path=path,
        ) from exc
    if "id" not in present:
        raise LedgerError(
            f"{path} holds no jobmagic runs (it has no attempts table).",
            reason=LedgerReason.DAMAGED,
            path=path,
        )
    # Older schemas have fewer columns (the rest stay empty); columns this jobmagic does not
    # know (a newer one's) are left behind.
    columns = ["id", *(name for name in present if name in ROW_COLUMNS and name != "id")]
    select = f"SELECT {', '.join(columns)} FROM attempts"
    reader = _Reader(conn, select, columns)
    if ids is not None:
        for attempt_id in ids:
            reader.read_range(attempt_id, attempt_id)
        return Readout(list(reader.rows.values()), 0, len(reader.failed), version)
    if reader.scan():
        return Readout(list(reader.rows.values()), 0, 0, version)
    indexed = _index_values(conn)
    bound = max([*indexed, *reader.rows, highest_id(conn)], default=0)
    for low in range(1, bound + 1, RANGE):
        reader.read_range(low, min(low + RANGE - 1, bound))
    # Lost: an id the indexes list, or whose reading failed, that no read found (ids are
    # given in order, so an id that fails to read most likely existed).
    lost = (set(indexed) | reader.failed) - set(reader.rows)
    partial = [row for row in (_from_index(indexed.get(i, {}), i) for i in sorted(lost)) if row]
    rows = [*reader.rows.values(), *partial]
    return Readout(rows, len(partial), len(lost) - len(partial), version)


#: The columns each index holds (with the row's id): read without the table's pages.
_INDEXED = {
    "attempts_by_created": ("created_at",),
    "attempts_by_state": ("state",),
    "attempts_by_run": ("application_id", "run_name"),
    "attempts_by_session": ("session_id", "created_at"),
    "attempts_by_status": ("run_status", "state"),
    "attempts_by_sweep": ("sweep", "created_at"),
}
#: What a row rebuilt from the indexes says of itself (``error_type``, ``error``).
PARTIAL = (
    "LedgerRecovery",
    "rebuilt from the damaged ledger's indexes: its target, params and command were lost",
)


def _index_values(conn: sqlite3.Connection) -> dict[int, Row]:
    """The values the file's indexes hold, by attempt id, as far as they can be read: which
    attempts existed, and some of their columns, when the table's own pages are damaged."""
    values: dict[int, Row] = {}
    for index, columns in _INDEXED.items():
        try:
            # Each index covers its query: only the index's pages are read.
            cursor = conn.execute(
                f"SELECT id, {', '.join(columns)} FROM attempts INDEXED BY {index}"
            )
            for attempt_id, *found in cursor:
                if isinstance(attempt_id, int):
                    values.setdefault(attempt_id, {}).update(zip(columns, found, strict=True))
        except sqlite3.Error:
            continue  # no such index (an older schema), or damaged from here on
    return values


def _from_index(found: Mapping[str, Any], attempt_id: int) -> Row | None:
    """An attempt the table lost, rebuilt from its index entries: only a settled one with its
    time (an unsettled one, without its params, could not be reconciled safely)."""
    state = found.get("state")
    if not found.get("created_at") or state in UNSETTLED or state not in _STATES:
        return None
    return {
        "id": attempt_id,
        "state": state,
        "created_at": found["created_at"],
        "updated_at": found["created_at"],
        "application_id": found.get("application_id"),
        "run_name": found.get("run_name"),
        "session_id": found.get("session_id"),
        "run_status": found.get("run_status"),
        "sweep": found.get("sweep"),
        "params_json": "{}",
        "error_type": PARTIAL[0],
        "error": PARTIAL[1],
    }


class _Reader:
    """Rows read so far by id, and the ids whose reading failed."""

    def __init__(self, conn: sqlite3.Connection, select: str, columns: list[str]) -> None:
        self.conn = conn
        self.select = select
        self.columns = columns
        self.rows: dict[int, Row] = {}
        self.failed: set[int] = set()

    def _keep(self, values: Iterable[tuple[Any, ...]]) -> None:
        for value in values:
            # An id below 1 is a zeroed page read as a row: AUTOINCREMENT starts at 1.
            if isinstance(value[0], int) and value[0] > 0:
                self.rows[value[0]] = dict(zip(self.columns, value, strict=True))

    def scan(self) -> bool:
        """The whole table in id order; whether it was read to its end (the rows read
        before a failure are kept)."""
        try:
            self._keep(self.conn.execute(f"{self.select} ORDER BY id"))
        except sqlite3.Error:
            return False
        return True

    def read_range(self, low: int, high: int) -> None:
        """The ids from ``low`` to ``high`` not read yet; a failing range is halved."""
        if all(attempt_id in self.rows for attempt_id in range(low, high + 1)):
            return
        try:
            rows = self.conn.execute(
                f"{self.select} WHERE id BETWEEN ? AND ?", (low, high)
            ).fetchall()
        except sqlite3.Error:
            if low == high:
                self.failed.add(low)
                return
            middle = (low + high) // 2
            self.read_range(low, middle)
            self.read_range(middle + 1, high)
            return
        self._keep(rows)


def highest_id(conn: sqlite3.Connection) -> int:
    """The highest attempt id a (damaged) file knows of, as far as it can be read."""
    highest = 0
    for sql in (
        "SELECT seq FROM sqlite_sequence WHERE name = 'attempts'",
        "SELECT MAX(id) FROM attempts",
    ):
        try:
            row = conn.execute(sql).fetchone()
        except sqlite3.Error:
            continue
        if row is not None and isinstance(row[0], int):
            highest = max(highest, row[0])
    return highest


# --- writing into the ledger ---------------------------------------------------------------


@dataclass(frozen=True)
class Copied:
    """What :func:`copy_attempts` wrote: the new rows' ids, and what it left out."""

    ids: tuple[int, ...]
    present: int
    refused: int
    unsettled: tuple[int, ...]
    partial: int = 0

    @property
    def highest(self) -> int:
        return max(self.ids, default=0)


def copy_attempts(conn: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> Copied:
    """Insert ``rows`` (from :func:`read_attempts`) into the ledger on ``conn``, inside the
    caller's transaction: those it holds already are skipped, ids are kept where free."""
    ids_taken = {int(row[0]) for row in conn.execute("SELECT id FROM attempts")}
    same = {tuple(row) for row in conn.execute(f"SELECT {', '.join(_SAME_ATTEMPT)} FROM attempts")}
    runs = {
        (row[0], row[1])
        for row in conn.execute(
            "SELECT application_id, run_name FROM attempts WHERE run_name IS NOT NULL"
        )
    }
    written: list[int] = []
    unsettled: list[int] = []
    present = refused = partial = 0
    for source in rows:
        row = _fit(source)
        if row is None:
            refused += 1
            continue
        key = tuple(row.get(name) for name in _SAME_ATTEMPT)
        run = (row.get("application_id"), row.get("run_name"))
        if key in same or (run[1] is not None and run in runs):
            present += 1
            continue
        if row["id"] in ids_taken:
            del row["id"]  # another attempt has it here: this one gets a new id
        names = list(row)
        cursor = conn.execute(
            f"INSERT INTO attempts ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[name] for name in names],
        )
        attempt_id = cursor.lastrowid
        assert attempt_id is not None
        ids_taken.add(attempt_id)
        same.add(key)
        if run[1] is not None:
            runs.add(run)
        written.append(attempt_id)
        if row["state"] in UNSETTLED:
            unsettled.append(attempt_id)
        if (row.get("error_type"), row.get("error")) == PARTIAL:
            partial += 1
    return Copied(tuple(written), present, refused, tuple(unsettled), partial)


def copy_sweeps(conn: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the sweeps ``rows`` (from :func:`read_attempts`) that fit and whose name is
    free, inside the caller's transaction; how many were written."""
    written = 0
    for source in rows:
        row = {
            k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
            for k, v in source.items()
        }
        try:
            parse_iso(str(row.get("created_at")))
            record = sweep_from_row([row.get(name) for name in _SWEEP_NAMES])
            values = sweep_values(record)
        except (ValueError, TypeError):
            continue  # a damaged page left it unfit, or it holds a bearer-shaped text
        written += conn.execute(INSERT_SWEEP, values).rowcount
    return written


def _fit(source: Mapping[str, Any]) -> Row | None:
    """``source`` as a row the ledger can hold, or ``None`` if a damaged page left it unfit
    (no valid state or times) or it holds what looks like a bearer token."""
    row: Row = {}
    for name, value in source.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        row[name] = value
    if not isinstance(row.get("id"), int) or row.get("state") not in _STATES:
        return None
    for name in ("created_at", "updated_at"):
        try:
            parse_iso(str(row.get(name)))
        except ValueError:
            return None
    if not isinstance(row.get("params_json"), str):
        row["params_json"] = "{}"
    try:
        for name, value in row.items():
            refuse_bearer(name, value)
    except ValueError:
        return None
    return row
