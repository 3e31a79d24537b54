"""The ledger: one SQLite connection, writes in BEGIN IMMEDIATE transactions."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from jobmagic.ledger._damage import (
    Identity,
    LedgerNotice,
    checked_before,
    close_without_checkpoint,
    damaged_files,
    file_identity,
    find_moved,
    integrity_problem,
    mark_checked,
    move_aside,
)
from jobmagic.ledger._deferred import Later
from jobmagic.ledger._entries import (
    AttemptState,
    LedgerEntry,
    dumps_redacted,
    iso_text,
    loads_mapping,
    redact,
    refuse_bearer,
    refuse_bearers,
    utcnow,
)
from jobmagic.ledger._errors import LedgerError, LedgerReason, is_damage, ledger_error, reason_of
from jobmagic.ledger._reads import LedgerReads
from jobmagic.ledger._recover import (
    Copied,
    LedgerRecovery,
    copy_attempts,
    highest_id,
    read_attempts,
)
from jobmagic.ledger._schema import (
    BUSY_TIMEOUT_S,
    SCHEMA_VERSION,
    default_ledger_path,
    migrate,
    newer_schema_error,
)
from jobmagic.models import JobRun

__all__ = ["Ledger"]

logger = logging.getLogger("jobmagic")

_T = TypeVar("_T")

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

    A damaged file is never written to: before this process's first write the file is
    checked (``PRAGMA quick_check``, once per process and file), and a file found damaged
    then, or by SQLite at any later read or write, is moved aside to
    ``<name>.damaged-<UTC stamp>`` with its ``-wal``/``-shm``, a new ledger is started and
    the work goes on; :meth:`pop_notices` gives what the user must be told, and
    :meth:`recover` copies the old file's runs back.

    ``read_only=True`` opens an existing file for reading only (a board, a server
    extension): nothing is created, migrated or moved, and damage is reported as a
    :class:`LedgerError` whose ``reason`` is ``"damaged"``. Every error is a
    :class:`LedgerError` with a ``reason`` and a ``hint``.

    >>> import tempfile, pathlib
    >>> from jobmagic.ledger._schema import SCHEMA_VERSION
    >>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3")
    >>> ledger.schema_version == SCHEMA_VERSION
    True
    >>> ledger.close()
    """

    def __init__(
        self, path: Path | str | None = None, *, fsync: bool = False, read_only: bool = False
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()
        self._path_text = str(self.path)
        self.read_only = read_only
        self._fsync = fsync
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # Reads have a connection of their own, opened on the first: in WAL mode a reader
        # never waits for a writer, so a board counting 100,000 rows (20 ms) does not hold
        # up a sweep's commits behind this object's lock, nor they the board.
        self._reader: sqlite3.Connection | None = None
        # Reentrant: replacing a damaged file holds it while opening the new one.
        self._read_lock = threading.RLock()
        self._closed = False
        #: Why every use fails from now on: a damaged file that could not be moved aside.
        self._broken: LedgerError | None = None
        #: The file opened (device, inode): another one at ``path`` means it was moved aside.
        self._identity: Identity | None = None
        #: This object found the file whole (or made it), so it may write.
        self._checked = False
        #: SQLite reported damage inside a batch: the batch is rolled back, not committed.
        self._damage_in_batch: str | None = None
        #: The highest attempt id seen: a new file's ids start after it, so the ids callers
        #: hold (and the old file's, copied back by recover) never name another attempt.
        self._highest_id = 0
        self._notices: list[LedgerNotice] = []
        #: The files this object moved aside, with the highest attempt id each held.
        self._moved: list[tuple[Path, int]] = []
        # Acknowledgements asked for with wait=False, by attempt id: written by ``_later``'s
        # thread, or by the next read, whichever comes first.
        self._unwritten: dict[int, tuple[JobRun, Mapping[str, Any] | None]] = {}
        self._later = Later(self.flush)
        if read_only:
            self._reader = self._open_reader()
        else:
            self._open_writer()

    # -- opening

    def _open_writer(self) -> None:
        """Open (creating, migrating) the file as ``self._conn``; a damaged one is moved
        aside and a new one opened instead."""
        try:
            created = self._ensure_file(self.path)
        except OSError as exc:
            raise ledger_error(self.path, exc, "created") from exc
        self._identity = file_identity(self.path)
        self._checked = created or checked_before(self.path, self._identity)
        if created:
            mark_checked(self.path, self._identity)
        try:
            conn = _open(self.path)
        except sqlite3.Error as exc:
            raise ledger_error(self.path, exc, "opened") from exc
        self._conn = conn
        try:
            if not self._checked and (
                _user_version(conn) < SCHEMA_VERSION
                or str(conn.execute("PRAGMA journal_mode").fetchone()[0]) != "wal"
            ):
                # Turning WAL on and migrating are writes: the file must be whole first.
                self._ensure_whole(conn)
            # WAL: readers never block the writer, and a commit is one append to the log.
            self.journal_mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            # NORMAL in WAL mode: a commit is one write() to the log, in the OS's hands before
            # it returns, so it outlives this process however it ends; the log is flushed to
            # the disk at checkpoints. FULL flushes every commit, which survives a power cut
            # too but cost 0.2-0.5 ms per commit here: over a quarter of a trigger's time.
            conn.execute(f"PRAGMA synchronous = {'FULL' if self._fsync else 'NORMAL'}")
            self.schema_version = migrate(conn, path=self.path)
        except sqlite3.Error as exc:
            if is_damage(exc) and not created:
                self._replace_damaged(str(exc), self._identity)
                return
            self._conn = None
            conn.close()
            raise ledger_error(self.path, exc, "opened") from exc
        except _Damaged as damaged:
            self._replace_damaged(damaged.problem, self._identity)
        except BaseException:
            self._conn = None
            conn.close()
            raise

    def _open_reader(self) -> sqlite3.Connection:
        """The read-only connection of a ``read_only`` ledger: the file must exist, at this
        jobmagic's schema."""
        if not self.path.exists():
            raise LedgerError(
                f"There is no run ledger at {self.path} yet.",
                reason=LedgerReason.MISSING,
                hint="The first trigger makes it; or point at the one you mean "
                "(JOBMAGIC_HOME, `%config JobMagic.ledger_path`).",
                path=self.path,
            )
        self._identity = file_identity(self.path)
        conn: sqlite3.Connection | None = None
        try:
            conn = _open(self.path, read_only=True)
            try:
                version = _user_version(conn)
            except sqlite3.Error as exc:
                if reason_of(exc, self.path) is not LedgerReason.READ_ONLY:
                    raise
                # A WAL file on a read-only disk, without its -shm: nobody can write to it
                # there, so SQLite may read it as immutable.
                conn.close()
                conn = _open(self.path, read_only=True, immutable=True)
                version = _user_version(conn)
            self.journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise ledger_error(self.path, exc, "opened") from exc
        if version != SCHEMA_VERSION:
            conn.close()
            if version > SCHEMA_VERSION:
                raise newer_schema_error(self.path, version)
            raise LedgerError(
                f"The run ledger {self.path} has schema {version}; this jobmagic reads "
                f"schema {SCHEMA_VERSION}.",
                reason=LedgerReason.OLD_SCHEMA,
                hint="Open it once without read_only (any trigger or `%job_runs` in a kernel) "
                "to upgrade it.",
                path=self.path,
            )
        self.schema_version = version
        return conn

    @staticmethod
    def _ensure_file(path: Path) -> bool:
        """Make the file if there is none; whether it is new (empty)."""
        # Create the file 0600 before SQLite does (it would use the umask): the ledger holds
        # params and commands, which are the user's business. SQLite gives -wal/-shm the
        # same permissions as the database file.
        if path.exists():
            return path.stat().st_size == 0
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return path.stat().st_size == 0
        os.close(fd)
        return True

    # -- damage

    def _ensure_whole(self, conn: sqlite3.Connection) -> None:
        """Raise :class:`_Damaged` if SQLite finds the file damaged; once per process."""
        if self._checked:
            return
        if checked_before(self.path, self._identity):
            self._checked = True
            return
        try:
            problem = integrity_problem(conn)
        except sqlite3.Error as exc:
            if not is_damage(exc):
                raise
            problem = str(exc)
        if problem is not None:
            raise _Damaged(problem)
        self._checked = True
        mark_checked(self.path, self._identity)

    def _replace_damaged(self, problem: str, identity: Identity | None) -> sqlite3.Connection:
        """Move the damaged file aside and open a new one (this thread holds ``_lock``).

        ``identity`` is the file found damaged: if this object has already replaced it (two
        threads met the damage), the new file is kept.
        """
        if identity != self._identity and self._conn is not None:
            return self._conn
        if not _is_sqlite_file(self.path):
            # Perhaps not jobmagic's file at all (a path set by mistake): not moved.
            with self._read_lock:
                old = [conn for conn in (self._conn, self._reader) if conn is not None]
                self._conn = self._reader = None
                close_without_checkpoint(self.path, old)
            raise LedgerError(
                f"The run ledger {self.path} is not a SQLite file ({problem}).",
                reason=LedgerReason.DAMAGED,
                hint="If it is jobmagic's ledger, damaged from its first page on, move it "
                "aside (rename it) and jobmagic starts a new one; if it is another file, point "
                "jobmagic elsewhere (JOBMAGIC_HOME, `%config JobMagic.ledger_path`).",
                path=self.path,
            )
        # Readers wait meanwhile: none may open the path while it is moved, or new and empty.
        with self._read_lock:
            old = [conn for conn in (self._conn, self._reader) if conn is not None]
            highest = max([self._highest_id, *(highest_id(conn) for conn in old[:1])])
            self._conn = self._reader = None
            close_without_checkpoint(self.path, old)
            at = utcnow()
            try:
                moved_to = move_aside(self.path, at)
            except OSError as exc:
                self._broken = LedgerError(
                    f"The run ledger {self.path} is damaged ({problem}) and could not be moved "
                    f"aside ({exc.strerror or exc}).",
                    reason=LedgerReason.DAMAGED,
                    hint="Move it (and its -wal and -shm files) aside yourself; jobmagic then "
                    "starts a new one, and `%jobmagic ledger recover PATH` copies its runs "
                    "back.",
                    path=self.path,
                )
                raise self._broken from exc
            self._damage_in_batch = None
            self._reopen()
            conn = self._open_connection()
            if highest:
                try:
                    _ids_after(conn, highest)
                except sqlite3.Error as exc:
                    raise ledger_error(self.path, exc, "started") from exc
        self._moved.append((moved_to, highest))
        self._tell(LedgerNotice(self.path, moved_to, problem, at))
        return conn

    def _follow_move(self) -> sqlite3.Connection:
        """Another process moved the file aside: close ours without writing to it, and
        open the one now at ``path`` (this thread holds ``_lock``)."""
        moved_to = find_moved(self.path, self._identity)
        with self._read_lock:
            old = [conn for conn in (self._conn, self._reader) if conn is not None]
            self._conn = self._reader = None
            _close_moved(moved_to, old)
            self._reopen()
        if moved_to is not None:
            self._tell(
                LedgerNotice(self.path, moved_to, "found by another jobmagic process", utcnow())
            )
        return self._open_connection()

    def _reopen(self) -> None:
        """Open the file now at ``path`` in place of the one left; if that fails (a full
        disk, say), every later use says why."""
        try:
            self._open_writer()
        except LedgerError as error:
            self._broken = error
            raise

    def _tell(self, notice: LedgerNotice) -> None:
        self._notices.append(notice)
        # Logged too: a caller that never pops notices must not leave it silent.
        logger.warning("%s", notice.text)

    def pop_notices(self) -> list[LedgerNotice]:
        """What happened to the file that the user must be told (a damaged file moved
        aside), each once: the list is emptied.

        >>> import tempfile, pathlib
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ledger.pop_notices()
        []
        """
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def damaged_files(self) -> list[Path]:
        """The damaged files moved aside from this ledger's path (by any process), newest
        first: what ``%jobmagic ledger recover`` reads when given no path.

        >>> import tempfile, pathlib
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ledger.damaged_files()
        []
        """
        return damaged_files(self.path)

    def recover(self, damaged: Path | str) -> LedgerRecovery:
        """Copy every readable attempt of ``damaged`` (a file moved aside, or any ledger
        file of any schema) into this ledger, skipping those it already holds.

        Ids are kept where free. The answer counts what was copied and what could not be
        read, and names the attempts (``to_reconcile``) whose outcome is still to be
        settled against the server: pass them to ``JobSession.reconcile``.

        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with Ledger(folder / "old.sqlite3") as old:
        ...     _ = old.record_attempt(host="h", target="train")
        >>> with Ledger(folder / "new.sqlite3") as ledger:
        ...     summary = ledger.recover(folder / "old.sqlite3")
        >>> summary.recovered, summary.to_reconcile
        (1, (1,))
        """
        source = Path(damaged).expanduser()
        if _same_file(source, self.path):
            raise LedgerError(
                f"{source} is this ledger's own file; recover reads another one (the file a "
                "damaged ledger was moved aside to).",
                reason=LedgerReason.UNUSABLE,
                path=self.path,
            )
        readout = read_attempts(source)
        copied = self._copy(readout.rows)
        if copied.highest > self._highest_id:
            self._highest_id = copied.highest
        return LedgerRecovery(
            source=source,
            schema_version=readout.version,
            recovered=len(copied.ids),
            already_present=copied.present,
            unreadable=readout.unreadable + copied.refused,
            to_reconcile=copied.unsettled,
            partial=copied.partial,
        )

    def _copy(self, rows: Sequence[Mapping[str, Any]]) -> Copied:
        def work(conn: sqlite3.Connection) -> Copied:
            with _transaction(conn):
                return copy_attempts(conn, rows)

        return self._run_write(work, flush_all=True)

    def _adopt(self, attempt_id: int) -> bool:
        """Copy ``attempt_id`` from the file this object moved aside, if it was written there
        (a trigger whose attempt was recorded before the damage was found); whether it was."""
        if not self._moved or attempt_id > self._moved[-1][1]:
            return False
        try:
            rows = read_attempts(self._moved[-1][0], (attempt_id,)).rows
            return bool(rows) and bool(self._copy(rows).ids)
        except LedgerError:
            return False

    # -- lifecycle

    def close(self) -> None:
        """Write what is left to write, close the connections; later calls raise
        :class:`LedgerError`. Idempotent."""
        self._later.stop()
        with self._lock, self._read_lock:
            conns = [conn for conn in (self._conn, self._reader) if conn is not None]
            self._conn = self._reader = None
            self._closed = True
            if conns and not self.read_only and file_identity(self.path) != self._identity:
                _close_moved(find_moved(self.path, self._identity), conns)
            else:
                for conn in conns:
                    conn.close()

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
        state = "closed" if self._closed else "read-only" if self.read_only else "open"
        return f"Ledger({str(self.path)!r}, {state})"

    @property
    def closed(self) -> bool:
        return self._closed

    def _open_connection(self) -> sqlite3.Connection:
        if self._closed:
            raise LedgerError(
                f"The run ledger {self.path} is closed.", reason=LedgerReason.CLOSED, path=self.path
            )
        if self._broken is not None:
            raise self._broken
        if self._conn is None:
            raise LedgerError(
                f"The run ledger {self.path} was opened read-only.",
                reason=LedgerReason.READ_ONLY,
                hint="Open it with `Ledger(path)` to write to it.",
                path=self.path,
            )
        return self._conn

    def _writer(self) -> sqlite3.Connection:
        """The write connection to the file now at ``path``, found whole (this thread holds
        ``_lock``)."""
        conn = self._open_connection()
        if conn.in_transaction:
            return conn  # inside batch(), which did all this at its start
        # One stat (a microsecond) per write: a file another process moved aside must not
        # get this one's writes.
        if file_identity(self._path_text) != self._identity:
            conn = self._follow_move()
        if not self._checked:
            try:
                self._ensure_whole(conn)
            except _Damaged as damaged:
                conn = self._replace_damaged(damaged.problem, self._identity)
            except sqlite3.Error as exc:
                raise ledger_error(self.path, exc, "checked") from exc
        return conn

    def _connection(self) -> sqlite3.Connection:
        """The write connection, once every write left for later is in: a write that may
        touch many rows (``update_runs``) comes after them."""
        conn = self._writer()
        if self._unwritten:
            self._write_unwritten(conn)
        return conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The read connection, once every write left for later is in (so this process's
        reads see its own writes), held for the ``with`` block. SQLite's errors in the
        block come out as :class:`LedgerError`."""
        if self._unwritten:
            self.flush()
        with self._read_lock:
            if self._closed:
                raise LedgerError(
                    f"The run ledger {self.path} is closed.",
                    reason=LedgerReason.CLOSED,
                    path=self.path,
                )
            if self._broken is not None:
                raise self._broken
            try:
                if self._reader is None:
                    self._reader = _open(self.path)
                yield self._reader
            except sqlite3.Error as exc:
                raise ledger_error(self.path, exc, "read") from exc

    def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work`` on the read connection; damage met by a writer's read is handled as at a
        write (moved aside, a new file), and ``work`` runs again on the new file."""
        identity = self._identity
        try:
            with self._reading() as conn:
                return work(conn)
        except LedgerError as error:
            cause = error.__cause__
            if self.read_only or error.reason is not LedgerReason.DAMAGED or cause is None:
                raise
            with self._lock:
                self._replace_damaged(str(cause), identity)
        with self._reading() as conn:
            return work(conn)

    def flush(self) -> None:
        """Write the acknowledgements left for later (``wait=False``) now; reads do it
        themselves, and so does closing."""
        with self._lock:
            if not self._unwritten or self._conn is None:
                return
            try:
                conn = self._writer()
            except LedgerError:
                lost, self._unwritten = len(self._unwritten), {}
                # Not raised: this runs inside reads, which must not fail for it.
                logger.warning(
                    "jobmagic could not write %d acknowledgements to its ledger; their "
                    "attempts stay pending until `%%job_runs --reconcile`",
                    lost,
                    exc_info=True,
                )
                return
            self._write_unwritten(conn)

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
            if began:
                _undo(conn, None)
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
        Damage found inside the block rolls all of it back, moves the file aside and raises
        :class:`LedgerError` (reason ``"damaged"``) at its end: write again, to the new file.
        """
        with self._lock:
            conn = self._connection()  # the file is checked before the transaction opens
            outer = not conn.in_transaction
            try:
                conn.execute("BEGIN IMMEDIATE" if outer else "SAVEPOINT a_batch")
                try:
                    yield
                except BaseException:
                    _undo(conn, None if outer else "a_batch")
                    if outer and self._damage_in_batch is not None:
                        self._replace_damaged(self._damage_in_batch, self._identity)
                    raise
                if outer and self._damage_in_batch is not None:
                    _undo(conn, None)
                    problem = self._damage_in_batch
                    self._replace_damaged(problem, self._identity)
                    raise LedgerError(
                        f"The run ledger {self.path} was found damaged ({problem}) during a "
                        "batch of writes, none of which was kept.",
                        reason=LedgerReason.DAMAGED,
                        hint="It was moved aside and a new ledger started: write again.",
                        path=self.path,
                    )
                conn.execute("COMMIT" if outer else "RELEASE a_batch")
            except sqlite3.Error as exc:
                raise ledger_error(self.path, exc, "written") from exc

    def _run_write(
        self,
        work: Callable[[sqlite3.Connection], _T],
        attempt_id: int | None = None,
        *,
        flush_all: bool = False,
        again: bool = True,
    ) -> _T:
        """``work`` on the write connection, under the lock: after the first-write check,
        and after the acknowledgement left for later of ``attempt_id`` (all of them with
        ``flush_all``). Damage met by ``work`` moves the file aside, and ``work`` runs again
        on the new one (unless not ``again``: then the damage is raised, once the file is
        moved); any other SQLite error becomes a :class:`LedgerError`."""
        with self._lock:
            conn = self._writer()
            if self._unwritten and (flush_all or attempt_id in self._unwritten):
                self._write_unwritten(conn)
            if self._damage_in_batch is not None and conn.in_transaction:
                raise self._unkept(self._damage_in_batch, "at the end of this batch")
            identity = self._identity
            try:
                return work(conn)
            except sqlite3.Error as exc:
                if not is_damage(exc):
                    raise ledger_error(self.path, exc, "written") from exc
                if conn.in_transaction:  # inside batch(): its end moves the file aside
                    self._damage_in_batch = str(exc)
                    raise self._unkept(str(exc), "at the end of this batch") from exc
                problem = str(exc)
                failure = exc
            conn = self._replace_damaged(problem, identity)
            if not again:
                raise self._unkept(problem, "now") from failure
            try:
                return work(conn)
            except sqlite3.Error as exc:
                raise ledger_error(self.path, exc, "written") from exc

    def _unkept(self, problem: str, when: str) -> LedgerError:
        """The error for a write that met damage and cannot be made again on the new file."""
        return LedgerError(
            f"The run ledger {self.path} was found damaged ({problem}): nothing of this write "
            "was kept.",
            reason=LedgerReason.DAMAGED,
            hint=f"The file is moved aside {when}, and a new ledger started: write again.",
            path=self.path,
        )

    def _write_one(
        self, sql: str, values: tuple[Any, ...], attempt_id: int | None = None
    ) -> sqlite3.Cursor:
        """One statement, committed by itself (or part of the open :meth:`batch`); about
        ``attempt_id``, whose acknowledgement left for later is written first.

        A single statement needs no BEGIN IMMEDIATE: it takes the write lock as it starts,
        waiting out the busy timeout, and is all or nothing on its own; one call instead of
        three is a third of a trigger's ledger time.
        """
        cursor = self._run_write(lambda conn: conn.execute(sql, values), attempt_id)
        if attempt_id is not None and cursor.rowcount == 0 and self._adopt(attempt_id):
            cursor = self._run_write(lambda conn: conn.execute(sql, values), attempt_id)
        return cursor

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
        if attempt_id > self._highest_id:
            self._highest_id = attempt_id
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
            raise LedgerError(
                f"The run ledger has no attempt {attempt_id}.", reason=LedgerReason.NO_ATTEMPT
            )

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
        now = iso_text(utcnow())

        def work(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                return _update_runs(conn, pairs, now)

        return self._run_write(work, flush_all=True)

    # -- reads

    def import_entries(self, entries: Iterable[LedgerEntry]) -> int:
        """Write many settled attempts in one transaction (their ``id`` is not kept).

        For copying runs from another ledger, and for building large ledgers for tests and
        benchmarks: a trigger is written with :meth:`record_attempt` instead, one commit
        before it is sent. The same bearer-token refusal applies. Returns how many were written.
        """
        # Streamed (100,000 entries build a benchmark's ledger), so not replayed on a new
        # file if this one is found damaged meanwhile: that is raised, nothing written.
        rows = (_import_values(entry) for entry in entries)

        def work(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                return conn.executemany(_IMPORT, rows).rowcount

        return self._run_write(work, flush_all=True, again=False)


def _update_runs(
    conn: sqlite3.Connection, pairs: Sequence[tuple[str | None, JobRun]], now: str
) -> int:
    """:meth:`Ledger.update_runs`'s statements, inside its transaction."""
    changed = 0
    for application_id, run in pairs:
        if application_id:
            rows = conn.execute(
                "SELECT id, run_json FROM attempts WHERE application_id = ? AND run_name = ?",
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
                "UPDATE attempts SET run_json = ?, run_status = ?, updated_at = ? WHERE id = ?",
                (payload, str(run.status.value), now, row["id"]),
            )
            changed += 1
    return changed


_IMPORT = (
    "INSERT INTO attempts (state, created_at, updated_at, host, target, "
    "application_id, deployment_id, application_fqn, run_name, params_json, "
    "command, alias, session_id, notebook, kernel_id, run_json, run_status, "
    "error_type, error, candidates_json, rerun_of) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

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


def _open(path: Path, *, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """A connection to the ledger file, shared by threads (each use under a lock)."""
    # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE
    # itself (or is one statement), so a writer takes the lock up front and waits
    # (busy_timeout) instead of failing with "database is locked" when upgrading a read.
    target = str(path)
    if read_only:
        target = f"{path.absolute().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(
        target,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
        uri=read_only,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
    return conn


class _Damaged(Exception):
    """SQLite's integrity check found the file damaged (``problem`` is its complaint)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One committed transaction; a savepoint inside an open one (a batch)."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT one_write")
        try:
            yield
        except BaseException:
            _undo(conn, "one_write")
            raise
        conn.execute("RELEASE one_write")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        _undo(conn, None)
        raise
    conn.execute("COMMIT")


def _undo(conn: sqlite3.Connection, savepoint: str | None) -> None:
    """Roll back the transaction (or ``savepoint``); quietly, since what failed is already
    being raised, and a damaged file may refuse the rollback too."""
    statements = (
        ("ROLLBACK",)
        if savepoint is None
        else (
            f"ROLLBACK TO {savepoint}",
            f"RELEASE {savepoint}",
        )
    )
    try:
        for statement in statements:
            if conn.in_transaction:
                conn.execute(statement)
    except sqlite3.Error:
        pass


def _ids_after(conn: sqlite3.Connection, highest: int) -> None:
    """Make the attempts' next id at least ``highest + 1`` (AUTOINCREMENT's counter)."""
    with _transaction(conn):
        cursor = conn.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'attempts'", (highest,)
        )
        if cursor.rowcount == 0:
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('attempts', ?)", (highest,)
            )


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


#: Connections to a file moved aside whose new name was not found: closing them could write
#: to it and delete the new file's log by name, so they stay open until the process ends.
_ABANDONED: list[sqlite3.Connection] = []


def _close_moved(moved_to: Path | None, conns: list[sqlite3.Connection]) -> None:
    if moved_to is not None:
        close_without_checkpoint(moved_to, conns)
    else:
        _ABANDONED.extend(conns)


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
