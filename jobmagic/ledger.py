"""The run ledger: every trigger, written down before it is sent.

A trigger is recorded as an *attempt* in a local SQLite file and committed
before the request goes out, then updated with the outcome:

``pending``       written, the request is about to be sent (or was, and the kernel died)
``acknowledged``  the server answered with a run; its name and JobRun are stored
``rejected``      the server said no (validation, auth, …): no run exists
``unknown``       the answer was lost or unclear (5xx): a run may exist; check before retrying

An ``unknown`` or ``pending`` attempt is settled against the server by
:meth:`jobmagic.session.JobSession.reconcile`, which leaves it ``acknowledged`` (the run it
started was found), ``not-created`` (no such run, safe to retry) or ``ambiguous`` (several
runs match; ``candidates`` names them).

So runs survive a kernel restart or crash, and ``%job_runs --all`` can list
them later with the params that were sent. Tokens are never stored.

>>> import tempfile, pathlib
>>> from jobmagic.models import JobRun, RunStatus
>>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "ledger.sqlite3") as ledger:
...     attempt = ledger.record_attempt(host="http://127.0.0.1:8000", target="train",
...                                     application_id="app-1", params={"lr": "0.1"})
...     ledger.record_acknowledged(attempt, JobRun(name="train-x1", status=RunStatus.RUNNING))
...     [(e.state.value, e.run_name, dict(e.params)) for e in ledger.entries()]
[('acknowledged', 'train-x1', {'lr': '0.1'})]

Concurrency: the file is in WAL mode with a busy timeout, every write is one
``BEGIN IMMEDIATE`` transaction, and one ``Ledger`` object may be shared by
threads (a lock serialises its single connection). Several processes (two
kernels) may write to the same file at once. Open one ``Ledger`` per process.
"""

from __future__ import annotations

import enum
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from jobmagic.config import jobmagic_home
from jobmagic.errors import JobmagicError
from jobmagic.models import JobRun, RunStatus

__all__ = [
    "SCHEMA_VERSION",
    "AttemptState",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerQuery",
    "default_ledger_path",
]

LEDGER_FILENAME = "ledger.sqlite3"
BUSY_TIMEOUT_S = 10.0


class LedgerError(JobmagicError):
    """The ledger cannot be used: closed, written by a newer jobmagic, or no such attempt."""


class AttemptState(str, enum.Enum):
    """Where a trigger attempt stands (see the module docstring)."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    NOT_CREATED = "not-created"
    AMBIGUOUS = "ambiguous"

    def __str__(self) -> str:
        return str(self.value)


# --- schema -------------------------------------------------------------------------
# Forward-only: each entry upgrades the file from version i to i + 1 and is never edited
# once released (a file written by an old jobmagic must upgrade the same way everywhere).
# PRAGMA user_version holds how many entries have been applied.

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: one row per trigger attempt.
    (
        """
        CREATE TABLE attempts (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            state           TEXT NOT NULL,
            created_at      TEXT NOT NULL,   -- ISO-8601 UTC, fixed width: sorts as text
            updated_at      TEXT NOT NULL,
            host            TEXT,
            target          TEXT,
            application_id  TEXT,
            deployment_id   TEXT,
            application_fqn TEXT,
            run_name        TEXT,
            params_json     TEXT NOT NULL DEFAULT '{}',
            command         TEXT,
            alias           TEXT,
            session_id      TEXT,
            notebook        TEXT,
            kernel_id       TEXT,
            run_json        TEXT,            -- the JobRun as API JSON (camelCase)
            run_status      TEXT,            -- copied out of run_json for filtering
            error_type      TEXT,
            error           TEXT
        )
        """,
    ),
    # 2: the lookups the tracker and %job_runs make on every tick / call.
    (
        "CREATE INDEX attempts_by_run ON attempts (application_id, run_name)",
        "CREATE INDEX attempts_by_session ON attempts (session_id, created_at)",
        "CREATE INDEX attempts_by_created ON attempts (created_at)",
    ),
    # 3: reconciling unknown outcomes: the runs an ambiguous attempt may have started, and
    # a quick way to the attempts still to settle however large the ledger grows.
    (
        "ALTER TABLE attempts ADD COLUMN candidates_json TEXT",
        "CREATE INDEX attempts_by_state ON attempts (state)",
    ),
    # 4: a rerun names the run it repeats (same application), so the card and the DataFrame
    # can say "rerun of train-ab12c"; a run name, not an attempt id, because the run repeated
    # may have been started outside jobmagic and have no attempt here.
    ("ALTER TABLE attempts ADD COLUMN rerun_of TEXT",),
    # 5: a board's counts per status over the whole ledger, and its status filter, read from
    # this index alone (covering) instead of every row's JSON.
    ("CREATE INDEX attempts_by_status ON attempts (run_status, state)",),
)

SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = (
    "id, state, created_at, updated_at, host, target, application_id, deployment_id, "
    "application_fqn, run_name, params_json, command, alias, session_id, notebook, kernel_id, "
    "run_json, run_status, error_type, error, candidates_json, rerun_of"
)


def default_ledger_path() -> Path:
    """``<JOBMAGIC_HOME>/ledger.sqlite3`` (``~/.jobmagic/ledger.sqlite3`` by default)."""
    return jobmagic_home() / LEDGER_FILENAME


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = _MIGRATIONS) -> int:
    """Bring the file up to ``len(migrations)``; safe when several processes open at once."""
    # BEGIN IMMEDIATE takes the write lock before reading the version, so two processes
    # opening a new file cannot both apply migration 1.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(migrations):
            raise LedgerError(
                f"The ledger was written by a newer jobmagic (schema {version}, this one "
                f"knows {len(migrations)}). Upgrade jobmagic, or point it at another ledger file."
            )
        for number in range(version, len(migrations)):
            for statement in migrations[number]:
                conn.execute(statement)
        if version < len(migrations):
            # user_version lives in the file header, so it commits with the DDL above.
            conn.execute(f"PRAGMA user_version = {len(migrations):d}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(migrations)


# --- secrets ------------------------------------------------------------------------

_BEARER = re.compile(r"bearer\s+\S+", re.IGNORECASE)


def _looks_like_bearer(value: str) -> bool:
    return value.lstrip()[:7].lower() == "bearer "


def _refuse_bearer(field_name: str, value: Any) -> None:
    # The value is deliberately not part of the message: it may be the secret.
    if isinstance(value, str) and _looks_like_bearer(value):
        raise ValueError(
            f"refusing to store {field_name!r} in the run ledger: it looks like a bearer token"
        )


def _redact(text: str) -> str:
    """Error text and server JSON are kept, minus anything shaped like ``Bearer <token>``."""
    return _BEARER.sub("Bearer …", text)


def _dumps(data: Any) -> str:
    # default=str: a server may send something json cannot round-trip; keep its text.
    return _redact(json.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False))


# --- time ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    # Fixed width and always UTC, so text order is time order (the indexes rely on it).
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(text: str) -> datetime:
    if text.endswith("Z"):
        # fromisoformat is ~10x quicker than strptime (a 100k-row listing spent 12 s there);
        # before Python 3.11 it does not read "Z", hence the slice.
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- entries ------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One trigger attempt as the ledger remembers it.

    ``run`` is the last JobRun seen (at acknowledgement, then refreshed by the
    tracker); it is ``None`` until the server acknowledged the trigger.
    ``runs_to_dataframe`` accepts entries directly.
    """

    id: int
    state: AttemptState
    created_at: datetime
    updated_at: datetime
    host: str | None = None
    target: str | None = None
    application_id: str | None = None
    deployment_id: str | None = None
    application_fqn: str | None = None
    run_name: str | None = None
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    command: str | None = None
    alias: str | None = None
    session_id: str | None = None
    notebook: str | None = None
    kernel_id: str | None = None
    run: JobRun | None = None
    error_type: str | None = None
    error: str | None = None
    #: The server runs an ``ambiguous`` attempt may have started.
    candidates: tuple[str, ...] = ()
    #: The name of the run (of the same application) this attempt triggered again.
    rerun_of: str | None = None

    @property
    def status(self) -> RunStatus | None:
        """The run's last known status, or ``None`` when no run was acknowledged."""
        return None if self.run is None else self.run.status


def _loads_mapping(text: str | None) -> dict[str, Any] | None:
    # A row edited by hand or cut short must not make the whole ledger unreadable.
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _entry_from_row(row: sqlite3.Row) -> LedgerEntry:
    data = _loads_mapping(row["run_json"])
    run = JobRun.from_api(data) if data is not None else None
    params = _loads_mapping(row["params_json"]) or {}
    return LedgerEntry(
        id=int(row["id"]),
        state=AttemptState(row["state"]),
        created_at=_parse_iso(row["created_at"]),
        updated_at=_parse_iso(row["updated_at"]),
        host=row["host"],
        target=row["target"],
        application_id=row["application_id"],
        deployment_id=row["deployment_id"],
        application_fqn=row["application_fqn"],
        run_name=row["run_name"],
        params={str(k): v if isinstance(v, str) else str(v) for k, v in params.items()},
        command=row["command"],
        alias=row["alias"],
        session_id=row["session_id"],
        notebook=row["notebook"],
        kernel_id=row["kernel_id"],
        run=run,
        error_type=row["error_type"],
        error=row["error"],
        candidates=_loads_names(row["candidates_json"]),
        rerun_of=row["rerun_of"],
    )


def _loads_names(text: str | None) -> tuple[str, ...]:
    try:
        names = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(str(name) for name in names) if isinstance(names, list) else ()


def _values(items: str | Iterable[str] | None) -> list[str] | None:
    if items is None:
        return None
    if isinstance(items, str):
        return [items]
    return [str(item.value) if isinstance(item, enum.Enum) else str(item) for item in items]


@dataclass(frozen=True)
class LedgerQuery:
    """Which attempts to read: every field given narrows the set (``None`` = any).

    ``app`` matches an attempt's target, application FQN or application id (what
    ``%job_runs --app`` was given); ``statuses`` are run statuses and match only attempts with
    a run; ``states`` are attempt states; ``since`` keeps attempts created at or after it;
    ``with_run`` keeps only attempts with (True) or without (False) a run. ``limit`` keeps
    only the newest ``limit`` matching attempts, so pages and counts are of those
    (``%job_runs --limit``). Results are always newest first.

    >>> LedgerQuery(session_id="s1").where()
    ('session_id = ?', ['s1'])
    """

    session_id: str | None = None
    application_id: str | None = None
    app: str | None = None
    statuses: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None
    since: datetime | None = None
    with_run: bool | None = None
    limit: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (``""`` for all) and its arguments; ``limit`` is not part of it."""
        clauses: list[str] = []
        args: list[Any] = []
        if self.session_id is not None:
            clauses.append("session_id = ?")
            args.append(self.session_id)
        if self.application_id is not None:
            clauses.append("application_id = ?")
            args.append(self.application_id)
        if self.app is not None:
            clauses.append("(target = ? OR application_fqn = ? OR application_id = ?)")
            args.extend([self.app] * 3)
        for column, wanted in (("run_status", self.statuses), ("state", self.states)):
            if wanted is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(wanted))})" if wanted else "0")
                args.extend(wanted)
        if self.with_run is not None:
            # run_status is written with run_json, and lives in an index: no JSON is read.
            clauses.append(f"run_status IS {'NOT ' if self.with_run else ''}NULL")
        if self.since is not None:
            clauses.append("created_at >= ?")
            args.append(_iso(self.since))
        return " AND ".join(clauses), args

    def select(
        self, columns: str, *, offset: int = 0, size: int | None = None
    ) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the matching attempts, newest first, from ``offset``.

        ``size`` rows at most, and never past the query's own ``limit``.
        """
        where, args = self.where()
        sql = f"SELECT {columns} FROM attempts" + (f" WHERE {where}" if where else "")
        sql += " ORDER BY created_at DESC, id DESC"
        bound = _page_bound(self.limit, offset, size)
        if bound is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if bound is None else bound, offset]
        return sql, args


def _page_bound(limit: int | None, offset: int, size: int | None) -> int | None:
    """How many rows a page from ``offset`` may hold under the query's ``limit``."""
    room = None if limit is None else max(0, int(limit) - offset)
    if size is None:
        return room
    return int(size) if room is None else min(int(size), room)


def _tuple(items: str | Iterable[str] | None) -> tuple[str, ...] | None:
    values = _values(items)
    return None if values is None else tuple(values)


#: Columns :meth:`Ledger.rows` may read (its column names are put into the SQL text).
ROW_COLUMNS = frozenset(name.strip() for name in _COLUMNS.split(","))


# --- the ledger ---------------------------------------------------------------------


class Ledger:
    """A SQLite run ledger; thread-safe, and safe for several processes at once.

    ``path`` defaults to ``<JOBMAGIC_HOME>/ledger.sqlite3``. Opening creates
    the file (readable by its owner only) and applies pending migrations.

    >>> import tempfile, pathlib
    >>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3")
    >>> ledger.schema_version == SCHEMA_VERSION
    True
    >>> ledger.close()
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()
        self._lock = threading.RLock()
        self._ensure_file(self.path)
        # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE
        # itself, so a writer takes the lock up front and waits (busy_timeout) instead of
        # failing with "database is locked" when upgrading a read to a write.
        conn = sqlite3.connect(
            str(self.path),
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
            # WAL: readers never block the writer, and a commit is one append to the log.
            self.journal_mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            # FULL: a committed attempt survives power loss too, not only a killed process.
            # Writes are a handful per trigger plus one per tracker tick, so fsync is cheap.
            conn.execute("PRAGMA synchronous = FULL")
            self.schema_version = _migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(
                f"The run ledger {self.path} cannot be opened ({exc}). If it is damaged, move "
                "it aside and jobmagic starts a new one."
            ) from exc
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    @staticmethod
    def _ensure_file(path: Path) -> None:
        # Create the file 0600 before SQLite does (it would use the umask): the ledger holds
        # params and commands, which are the user's business. SQLite gives -wal/-shm the
        # same permissions as the database file.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)

    # -- lifecycle

    def close(self) -> None:
        """Close the connection; later calls raise :class:`LedgerError`. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"Ledger({str(self.path)!r}, {state})"

    @property
    def closed(self) -> bool:
        return self._conn is None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"The run ledger {self.path} is closed.")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed write transaction, holding this object's lock throughout."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- writes

    def record_attempt(
        self,
        *,
        host: str | None,
        target: str | None,
        application_id: str | None = None,
        deployment_id: str | None = None,
        application_fqn: str | None = None,
        params: Mapping[str, str] | None = None,
        command: str | None = None,
        alias: str | None = None,
        session_id: str | None = None,
        notebook: str | None = None,
        kernel_id: str | None = None,
        rerun_of: str | None = None,
    ) -> int:
        """Write a ``pending`` attempt and commit it; call *before* sending the trigger.

        Returns the attempt id to pass to ``record_acknowledged`` /
        ``record_rejected`` / ``record_unknown``. ``rerun_of`` names the run this attempt
        repeats (``RunHandle.rerun``). Raises ``ValueError`` if any
        value looks like a bearer token (there is no token parameter on purpose).

        >>> import tempfile, pathlib
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ledger.record_attempt(host="h", target="my-cluster:ws:train", params={"lr": "1"})
        1
        """
        fields = {
            "host": host,
            "target": target,
            "application_id": application_id,
            "deployment_id": deployment_id,
            "application_fqn": application_fqn,
            "command": command,
            "alias": alias,
            "session_id": session_id,
            "notebook": notebook,
            "kernel_id": kernel_id,
            "rerun_of": rerun_of,
        }
        for name, value in fields.items():
            _refuse_bearer(name, value)
        clean_params: dict[str, str] = {}
        for key, value in (params or {}).items():
            _refuse_bearer("params", key)
            _refuse_bearer(f"params.{key}", value)
            clean_params[str(key)] = value if isinstance(value, str) else str(value)
        now = _iso(_now())
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO attempts (state, created_at, updated_at, host, target, "
                "application_id, deployment_id, application_fqn, params_json, command, alias, "
                "session_id, notebook, kernel_id, rerun_of) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    AttemptState.PENDING.value,
                    now,
                    now,
                    host,
                    target,
                    application_id,
                    deployment_id,
                    application_fqn,
                    json.dumps(clean_params, ensure_ascii=False),
                    command,
                    alias,
                    session_id,
                    notebook,
                    kernel_id,
                    rerun_of,
                ),
            )
            attempt_id = cursor.lastrowid
        assert attempt_id is not None  # an INSERT into a rowid table always sets it
        return attempt_id

    def record_acknowledged(
        self,
        attempt_id: int,
        run: JobRun,
        raw: Mapping[str, Any] | None = None,
        *,
        reconciled: str | None = None,
    ) -> None:
        """The server started ``run``: store it (``raw`` API JSON if given) and commit.

        The attempt's application/deployment ids are filled from the run when
        the attempt did not know them (a trigger by FQN or by deployment id).
        ``reconciled`` says how a run was matched to an attempt whose answer was lost
        (:meth:`record_reconciled`); it is kept where the error was.
        """
        # The raw JSON wins, and the parsed run fills what it lacks (a trigger response's
        # "data" may carry no name: the name came as jobRunName).
        payload = _dumps(run.to_api() if raw is None else {**run.to_api(), **raw})
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE attempts SET state = ?, updated_at = ?, run_name = ?, run_json = ?, "
                "run_status = ?, application_id = COALESCE(application_id, ?), "
                "deployment_id = COALESCE(deployment_id, ?), error_type = ?, error = ?, "
                "candidates_json = NULL WHERE id = ?",
                (
                    AttemptState.ACKNOWLEDGED.value,
                    _iso(_now()),
                    run.name or None,
                    payload,
                    str(run.status.value),
                    run.application_id,
                    run.deployment_id,
                    None if reconciled is None else "reconciled",
                    None if reconciled is None else _redact(reconciled),
                    attempt_id,
                ),
            )
            self._require_row(cursor, attempt_id)

    def record_rejected(self, attempt_id: int, error: BaseException | str) -> None:
        """The server refused the trigger: no run exists. Stores the error's type and text."""
        self._record_failure(attempt_id, AttemptState.REJECTED, error)

    def record_unknown(self, attempt_id: int, error: BaseException | str | None = None) -> None:
        """The answer was lost: the request may have started a run. Check before retrying."""
        self._record_failure(attempt_id, AttemptState.UNKNOWN, error)

    def record_reconciled(self, attempt_id: int, run: JobRun, note: str) -> None:
        """An attempt whose answer was lost, matched to the run it started on the server.

        Acknowledged like an answered trigger; ``note`` (how it was matched) replaces the
        error, so the row still says that the answer had been lost.
        """
        self.record_acknowledged(attempt_id, run, reconciled=note)

    def record_not_created(self, attempt_id: int, reason: str) -> None:
        """The server has no run this attempt could have started: safe to trigger again."""
        self._record_failure(attempt_id, AttemptState.NOT_CREATED, reason)

    def record_ambiguous(self, attempt_id: int, candidates: Sequence[str], reason: str) -> None:
        """Several runs could be this attempt's; they are kept for a person to choose."""
        self._record_failure(attempt_id, AttemptState.AMBIGUOUS, reason, candidates)

    def _record_failure(
        self,
        attempt_id: int,
        state: AttemptState,
        error: BaseException | str | None,
        candidates: Sequence[str] = (),
    ) -> None:
        if isinstance(error, BaseException):
            error_type: str | None = type(error).__name__
            text: str | None = _redact(str(error)) or None
        else:
            error_type = None
            text = None if error is None else _redact(str(error))
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE attempts SET state = ?, updated_at = ?, error_type = ?, error = ?, "
                "candidates_json = ? WHERE id = ?",
                (
                    state.value,
                    _iso(_now()),
                    error_type,
                    text,
                    json.dumps(list(candidates)) if candidates else None,
                    attempt_id,
                ),
            )
            self._require_row(cursor, attempt_id)

    @staticmethod
    def _require_row(cursor: sqlite3.Cursor, attempt_id: int) -> None:
        if cursor.rowcount == 0:
            raise LedgerError(f"The run ledger has no attempt {attempt_id}.")

    def update_runs(self, runs: Iterable[JobRun | tuple[str, JobRun]]) -> int:
        """Store fresh JobRuns of known runs, matched by (application id, run name).

        Items are ``(application_id, run)`` pairs or bare JobRuns. A bare
        JobRun is matched by its ``application_id`` when it has one, else by
        run name alone, unless attempts of several applications share that
        name (then it is skipped rather than guessed). All in one transaction;
        fields of the stored JSON that JobRun does not model are kept.
        Returns how many attempts changed.
        """
        pairs: list[tuple[str | None, JobRun]] = []
        for item in runs:
            if isinstance(item, JobRun):
                pairs.append((item.application_id, item))
            else:
                pairs.append((item[0], item[1]))
        pairs = [(app, run) for app, run in pairs if run.name]
        if not pairs:
            return 0
        changed = 0
        now = _iso(_now())
        with self._write() as conn:
            for application_id, run in pairs:
                if application_id:
                    rows = conn.execute(
                        "SELECT id, run_json FROM attempts "
                        "WHERE application_id = ? AND run_name = ?",
                        (application_id, run.name),
                    ).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT id, run_json, application_id FROM attempts WHERE run_name = ?",
                        (run.name,),
                    ).fetchall()
                    if len({row["application_id"] for row in rows}) > 1:
                        continue  # ambiguous without an application id
                for row in rows:
                    previous = _loads_mapping(row["run_json"]) or {}
                    merged = {**previous, **run.to_api()}
                    payload = _dumps(merged)
                    if payload == row["run_json"]:
                        continue  # nothing new: no write, so a quiet tick costs no fsync
                    conn.execute(
                        "UPDATE attempts SET run_json = ?, run_status = ?, updated_at = ? "
                        "WHERE id = ?",
                        (payload, str(run.status.value), now, row["id"]),
                    )
                    changed += 1
        return changed

    # -- reads

    def known_run_names(self, application_id: str, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are runs of ``application_id`` some attempt already owns."""
        wanted = sorted({name for name in names if name})
        known: set[str] = set()
        with self._lock:
            conn = self._connection()
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

    def entries_for_runs(
        self, application_id: str, names: Iterable[str], *, host: str | None = None
    ) -> dict[str, LedgerEntry]:
        """The newest attempt that owns each of ``names`` (runs of ``application_id``).

        With ``host``, attempts recorded against another host are left out: the sandbox's
        application ids are the same on every machine, so an id alone can name another
        server's run. Names no attempt owns are absent from the answer.
        """
        wanted = sorted({name for name in names if name})
        found: dict[str, LedgerEntry] = {}
        host_clause = "" if host is None else " AND (host = ? OR host IS NULL)"
        with self._lock:
            conn = self._connection()
            # Chunked: SQLite bounds the number of parameters of one statement.
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM attempts WHERE application_id = ? AND run_name IN "
                    f"({', '.join('?' * len(chunk))}){host_clause} "
                    "ORDER BY created_at ASC, id ASC",
                    (application_id, *chunk, *(() if host is None else (host,))),
                ).fetchall()
                # Oldest first, so the newest attempt of a name is the one kept.
                found.update((row["run_name"], _entry_from_row(row)) for row in rows)
        return found

    def get(self, attempt_id: int) -> LedgerEntry:
        """One attempt by id; :class:`LedgerError` if there is none."""
        with self._lock:
            row = (
                self._connection()
                .execute(f"SELECT {_COLUMNS} FROM attempts WHERE id = ?", (attempt_id,))
                .fetchone()
            )
        if row is None:
            raise LedgerError(f"The run ledger has no attempt {attempt_id}.")
        return _entry_from_row(row)

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
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     _ = ledger.record_attempt(host="h", target="train", session_id="s1")
        ...     [e.state for e in ledger.entries(session_id="s1", states=["pending"])]
        [<AttemptState.PENDING: 'pending'>]
        """
        query = LedgerQuery(
            session_id=session_id,
            application_id=application_id,
            statuses=_tuple(statuses),
            states=_tuple(states),
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
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ids = [ledger.record_attempt(host="h", target=f"t{i}") for i in range(5)]
        ...     [e.target for e in ledger.page(LedgerQuery(), offset=1, size=2)]
        ['t3', 't2']
        """
        sql, args = query.select(_COLUMNS, offset=offset, size=size)
        with self._lock:
            rows = self._connection().execute(sql, args).fetchall()
        return [_entry_from_row(row) for row in rows]

    def count(self, query: LedgerQuery = LedgerQuery()) -> int:
        """How many attempts ``query`` matches (within its ``limit``)."""
        return sum(self.status_counts(query).values())

    def status_counts(self, query: LedgerQuery = LedgerQuery()) -> dict[str, int]:
        """How many matching attempts there are per run status; an attempt without a run
        counts under its state in capitals (``PENDING``, ``REJECTED``, …).

        One ``COUNT … GROUP BY``; with no filter it reads only the status index.

        >>> import tempfile, pathlib
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ids = [ledger.record_attempt(host="h", target="t") for _ in range(3)]
        ...     ledger.record_acknowledged(ids[0], JobRun(name="r", status=RunStatus.FAILED))
        ...     ledger.status_counts()
        {'FAILED': 1, 'PENDING': 2}
        """
        key = "COALESCE(run_status, UPPER(state))"
        if query.limit is None:
            where, args = query.where()
            sql = f"SELECT {key}, COUNT(*) FROM attempts" + (f" WHERE {where}" if where else "")
        else:
            # Counts of the newest `limit` only: group the limited rows.
            inner, args = query.select("run_status, state")
            sql = f"SELECT {key}, COUNT(*) FROM ({inner})"
        sql += " GROUP BY 1 ORDER BY 1"
        with self._lock:
            rows = self._connection().execute(sql, args).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def rows(self, query: LedgerQuery, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """The raw values of ``columns`` (names from :data:`ROW_COLUMNS`) of every matching
        attempt, newest first, as plain tuples: JSON stays text and times stay ISO text, for
        readers that convert whole columns at once (:func:`jobmagic.frames.ledger_frame`)."""
        unknown = [name for name in columns if name not in ROW_COLUMNS]
        if unknown:
            raise ValueError(f"Ledger.rows: no column {unknown[0]!r}; use {sorted(ROW_COLUMNS)}")
        sql, args = query.select(", ".join(columns))
        with self._lock:
            cursor = self._connection().cursor()
            cursor.row_factory = None  # tuples: no Row object per attempt
            return cursor.execute(sql, args).fetchall()

    def import_entries(self, entries: Iterable[LedgerEntry]) -> int:
        """Write many settled attempts in one transaction (their ``id`` is not kept).

        For copying runs from another ledger, and for building large ledgers for tests and
        benchmarks: a trigger is written with :meth:`record_attempt` instead, one commit
        before it is sent. The same bearer-token refusal applies. Returns how many were written.
        """
        written = 0
        with self._write() as conn:
            for entry in entries:
                values = _import_values(entry)
                conn.execute(
                    "INSERT INTO attempts (state, created_at, updated_at, host, target, "
                    "application_id, deployment_id, application_fqn, run_name, params_json, "
                    "command, alias, session_id, notebook, kernel_id, run_json, run_status, "
                    "error_type, error, candidates_json, rerun_of) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                written += 1
        return written


def _import_values(entry: LedgerEntry) -> tuple[Any, ...]:
    """One entry as the row :meth:`Ledger.import_entries` inserts."""
    texts = {
        "host": entry.host,
        "target": entry.target,
        "application_id": entry.application_id,
        "deployment_id": entry.deployment_id,
        "application_fqn": entry.application_fqn,
        "command": entry.command,
        "alias": entry.alias,
        "session_id": entry.session_id,
        "notebook": entry.notebook,
        "kernel_id": entry.kernel_id,
        "rerun_of": entry.rerun_of,
        **{f"params.{key}": value for key, value in entry.params.items()},
    }
    for name, value in texts.items():
        _refuse_bearer(name, value)
    run = entry.run
    return (
        entry.state.value,
        _iso(entry.created_at),
        _iso(entry.updated_at),
        entry.host,
        entry.target,
        entry.application_id or (run.application_id if run else None),
        entry.deployment_id or (run.deployment_id if run else None),
        entry.application_fqn,
        entry.run_name or (run.name if run else None) or None,
        json.dumps(dict(entry.params), ensure_ascii=False),
        entry.command,
        entry.alias,
        entry.session_id,
        entry.notebook,
        entry.kernel_id,
        None if run is None else _dumps(run.to_api()),
        None if run is None else str(run.status.value),
        entry.error_type,
        None if entry.error is None else _redact(entry.error),
        json.dumps(list(entry.candidates)) if entry.candidates else None,
        entry.rerun_of,
    )
