"""The ledger: one SQLite connection, writes in BEGIN IMMEDIATE transactions."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from jobmagic.ledger._deferred import Later
from jobmagic.ledger._entries import (
    AttemptState,
    LedgerEntry,
    LedgerError,
    dumps_redacted,
    iso_text,
    loads_mapping,
    redact,
    refuse_bearer,
    refuse_bearers,
    utcnow,
)
from jobmagic.ledger._reads import LedgerReads
from jobmagic.ledger._schema import BUSY_TIMEOUT_S, default_ledger_path, migrate
from jobmagic.models import JobRun

__all__ = ["Ledger"]

logger = logging.getLogger("jobmagic")

_PENDING = AttemptState.PENDING.value
_ACKNOWLEDGED = AttemptState.ACKNOWLEDGED.value
#: The texts of an attempt, in record_attempt's order: none may be a bearer token.
_ATTEMPT_TEXTS = (
    "host",
    "target",
    "application_id",
    "deployment_id",
    "application_fqn",
    "command",
    "alias",
    "session_id",
    "notebook",
    "kernel_id",
    "rerun_of",
)
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (state, created_at, updated_at, params_json, "
    f"{', '.join(_ATTEMPT_TEXTS)}) VALUES ({', '.join('?' * (4 + len(_ATTEMPT_TEXTS)))})"
)


# --- the ledger ---------------------------------------------------------------------


class Ledger(LedgerReads):
    """A SQLite run ledger; thread-safe, and safe for several processes at once.

    ``path`` defaults to ``<JOBMAGIC_HOME>/ledger.sqlite3``. Opening creates
    the file (readable by its owner only) and applies pending migrations.

    A commit is durable once it returns: the attempt written before a trigger is sent
    survives the kernel being killed, crashing or restarting. With ``fsync`` every commit
    is also flushed to the disk, so it survives a power cut or an OS crash too, at the cost
    of a disk flush (0.2-0.5 ms on a typical disk) per commit: two per trigger.

    >>> import tempfile, pathlib
    >>> from jobmagic.ledger._schema import SCHEMA_VERSION
    >>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3")
    >>> ledger.schema_version == SCHEMA_VERSION
    True
    >>> ledger.close()
    """

    def __init__(self, path: Path | str | None = None, *, fsync: bool = False) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()
        self._lock = threading.RLock()
        self._ensure_file(self.path)
        conn = _open(self.path)
        try:
            # WAL: readers never block the writer, and a commit is one append to the log.
            self.journal_mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            # NORMAL in WAL mode: a commit is one write() to the log, in the OS's hands before
            # it returns, so it outlives this process however it ends; the log is flushed to
            # the disk at checkpoints. FULL flushes every commit, which survives a power cut
            # too but cost 0.2-0.5 ms per commit here: over a quarter of a trigger's time.
            conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
            self.schema_version = migrate(conn)
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
        # Acknowledgements asked for with wait=False, by attempt id: written by ``_later``'s
        # thread, or by the next read, whichever comes first.
        self._unwritten: dict[int, tuple[JobRun, Mapping[str, Any] | None]] = {}
        self._later = Later(self.flush)
        # Reads have a connection of their own, opened on the first: in WAL mode a reader
        # never waits for a writer, so a board counting 100,000 rows (20 ms) does not hold
        # up a sweep's commits behind this object's lock, nor they the board.
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()

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
        """Write what is left to write, close the connections; later calls raise
        :class:`LedgerError`. Idempotent."""
        self._later.stop()
        with self._lock, self._read_lock:
            for conn in (self._conn, self._reader):
                if conn is not None:
                    conn.close()
            self._conn = self._reader = None

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
        """The write connection, once every write left for later is in: a write that may
        touch many rows (``update_runs``) comes after them."""
        conn = self._open_connection()
        if self._unwritten:
            self._write_unwritten(conn)
        return conn

    def _open_connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"The run ledger {self.path} is closed.")
        return self._conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The read connection, once every write left for later is in (so this process's
        reads see its own writes), held for the ``with`` block."""
        if self._unwritten:
            self.flush()
        with self._read_lock:
            if self._conn is None:
                raise LedgerError(f"The run ledger {self.path} is closed.")
            if self._reader is None:
                self._reader = _open(self.path)
            yield self._reader

    def flush(self) -> None:
        """Write the acknowledgements left for later (``wait=False``) now; reads do it
        themselves, and so does closing."""
        with self._lock:
            if self._unwritten and self._conn is not None:
                self._write_unwritten(self._conn)

    def _write_unwritten(self, conn: sqlite3.Connection) -> None:
        """Every acknowledgement left for later, in one transaction (this thread holds the
        lock); one that cannot be written leaves its attempt pending, for reconcile."""
        unwritten, self._unwritten = self._unwritten, {}
        began = not conn.in_transaction
        try:
            if began:
                conn.execute("BEGIN IMMEDIATE")
            for attempt_id, (run, raw) in unwritten.items():
                cursor = conn.execute(_ACKNOWLEDGE, _acknowledged(attempt_id, run, raw, None))
                self._require_row(cursor, attempt_id)
            if began:
                conn.execute("COMMIT")
        except Exception:
            if began and conn.in_transaction:
                conn.execute("ROLLBACK")
            # Not raised: this runs inside reads, which must not fail for it.
            logger.warning(
                "jobmagic could not write %d acknowledgements to its ledger; their attempts "
                "stay pending until `%%job_runs --reconcile`",
                len(unwritten),
                exc_info=True,
            )

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run the writes inside (this thread's) as one transaction: one commit for all.

        Each write is still all or nothing (a savepoint); nothing is committed until the
        block ends, so a caller that must know a write is durable waits for the block.
        """
        with self._lock, self._write():
            yield

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed write transaction, holding this object's lock throughout."""
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:  # inside batch(): only this thread can hold it open
                conn.execute("SAVEPOINT one_write")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK TO one_write")
                    conn.execute("RELEASE one_write")
                    raise
                conn.execute("RELEASE one_write")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _write_one(
        self, sql: str, values: tuple[Any, ...], attempt_id: int | None = None
    ) -> sqlite3.Cursor:
        """One statement, committed by itself (or part of the open :meth:`batch`); about
        ``attempt_id``, whose acknowledgement left for later is written first.

        A single statement needs no BEGIN IMMEDIATE: it takes the write lock as it starts,
        waiting out the busy timeout, and is all or nothing on its own; one call instead of
        three is a third of a trigger's ledger time.
        """
        with self._lock:
            conn = self._open_connection()
            if attempt_id in self._unwritten:
                self._write_unwritten(conn)
            return conn.execute(sql, values)

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
        texts = (
            host,
            target,
            application_id,
            deployment_id,
            application_fqn,
            command,
            alias,
            session_id,
            notebook,
            kernel_id,
            rerun_of,
        )
        refuse_bearers(_ATTEMPT_TEXTS, texts)
        clean_params = {
            str(key): value if isinstance(value, str) else str(value)
            for key, value in (params or {}).items()
        }
        refuse_bearers(("params",) * len(clean_params), clean_params)
        refuse_bearers((f"params.{key}" for key in clean_params), clean_params.values())
        now = iso_text(utcnow())
        params_json = json.dumps(clean_params, ensure_ascii=False)
        cursor = self._write_one(_INSERT_ATTEMPT, (_PENDING, now, now, params_json, *texts))
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
        wait: bool = True,
    ) -> None:
        """The server started ``run``: store it (``raw`` API JSON if given) and commit.

        The attempt's application/deployment ids are filled from the run when
        the attempt did not know them (a trigger by FQN or by deployment id).
        ``reconciled`` says how a run was matched to an attempt whose answer was lost
        (:meth:`record_reconciled`); it is kept where the error was.

        With ``wait=False`` it is written a moment later, off the caller's path (a thread
        does it while the caller waits on the network; any read of this ledger first). If
        the process dies before, the attempt stays ``pending`` and reconcile finds its run.
        """
        if not wait and reconciled is None:
            with self._lock:
                self._unwritten[attempt_id] = (run, raw)
            self._later.wake()
            return
        cursor = self._write_one(
            _ACKNOWLEDGE, _acknowledged(attempt_id, run, raw, reconciled), attempt_id
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
            text: str | None = redact(str(error)) or None
        else:
            error_type = None
            text = None if error is None else redact(str(error))
        cursor = self._write_one(
            "UPDATE attempts SET state = ?, updated_at = ?, error_type = ?, error = ?, "
            "candidates_json = ? WHERE id = ?",
            (
                state.value,
                iso_text(utcnow()),
                error_type,
                text,
                json.dumps(list(candidates)) if candidates else None,
                attempt_id,
            ),
            attempt_id,
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
        now = iso_text(utcnow())
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
                    previous = loads_mapping(row["run_json"]) or {}
                    merged = {**previous, **run.to_api()}
                    payload = dumps_redacted(merged)
                    if payload == row["run_json"]:
                        continue  # nothing new: no write, so a quiet tick costs no commit
                    conn.execute(
                        "UPDATE attempts SET run_json = ?, run_status = ?, updated_at = ? "
                        "WHERE id = ?",
                        (payload, str(run.status.value), now, row["id"]),
                    )
                    changed += 1
        return changed

    # -- reads

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


_ACKNOWLEDGE = (
    "UPDATE attempts SET state = ?, updated_at = ?, run_name = ?, run_json = ?, "
    "run_status = ?, application_id = COALESCE(application_id, ?), "
    "deployment_id = COALESCE(deployment_id, ?), error_type = ?, error = ?, "
    "candidates_json = NULL WHERE id = ?"
)


def _acknowledged(
    attempt_id: int, run: JobRun, raw: Mapping[str, Any] | None, reconciled: str | None
) -> tuple[Any, ...]:
    """The values of :data:`_ACKNOWLEDGE` for an attempt whose run is ``run``."""
    # The raw JSON wins, and the parsed run fills what it lacks (a trigger response's
    # "data" may carry no name: the name came as jobRunName).
    payload = dumps_redacted(run.to_api() if raw is None else {**run.to_api(), **raw})
    return (
        _ACKNOWLEDGED,
        iso_text(utcnow()),
        run.name or None,
        payload,
        str(run.status.value),
        run.application_id,
        run.deployment_id,
        None if reconciled is None else "reconciled",
        None if reconciled is None else redact(reconciled),
        attempt_id,
    )


def _open(path: Path) -> sqlite3.Connection:
    """A connection to the ledger file, shared by threads (each use under a lock)."""
    # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE
    # itself (or is one statement), so a writer takes the lock up front and waits
    # (busy_timeout) instead of failing with "database is locked" when upgrading a read.
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
    return conn


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
        refuse_bearer(name, value)
    run = entry.run
    return (
        entry.state.value,
        iso_text(entry.created_at),
        iso_text(entry.updated_at),
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
        None if run is None else dumps_redacted(run.to_api()),
        None if run is None else str(run.status.value),
        entry.error_type,
        None if entry.error is None else redact(entry.error),
        json.dumps(list(entry.candidates)) if entry.candidates else None,
        entry.rerun_of,
    )
