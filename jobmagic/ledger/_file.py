"""The file behind a :class:`~jobmagic.ledger.Ledger`: its state, opening it for writing
(creating, checking, migrating) or for reading only, the first-write integrity check, and
the connections the reads and writes are handed.

What happens when the file is found damaged or moved is :mod:`._damage_handling`'s; how a
write is committed, :mod:`._commits`'s.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobmagic._later import Later
from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._connections import connect, ensure_file, user_version
from jobmagic.ledger._damage import (
    Identity,
    LedgerNotice,
    checked_before,
    file_identity,
    integrity_problem,
    mark_checked,
)
from jobmagic.ledger._errors import is_damage, ledger_error, reason_of
from jobmagic.ledger._schema import (
    SCHEMA_VERSION,
    default_ledger_path,
    migrate,
    newer_schema_error,
    schema_writer,
)
from jobmagic.models import JobRun

__all__ = ["Damaged", "LedgerFile"]


class Damaged(Exception):
    """SQLite's integrity check found the file damaged (``problem`` is its complaint)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class LedgerFile:
    """The state a :class:`~jobmagic.ledger.Ledger` keeps about its file, and the opening of
    it; see the Ledger for what it promises."""

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
            created = ensure_file(self.path)
        except OSError as exc:
            raise ledger_error(self.path, exc, "created") from exc
        self._identity = file_identity(self.path)
        self._checked = created or checked_before(self.path, self._identity)
        if created:
            mark_checked(self.path, self._identity)
        try:
            conn = connect(self.path)
        except sqlite3.Error as exc:
            raise ledger_error(self.path, exc, "opened") from exc
        self._conn = conn
        try:
            if not self._checked and (
                user_version(conn) < SCHEMA_VERSION
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
        except Damaged as damaged:
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
            conn = connect(self.path, read_only=True)
            try:
                version = user_version(conn)
            except sqlite3.Error as exc:
                if reason_of(exc, self.path) is not LedgerReason.READ_ONLY:
                    raise
                # A WAL file on a read-only disk, without its -shm: nobody can write to it
                # there, so SQLite may read it as immutable.
                conn.close()
                conn = connect(self.path, read_only=True, immutable=True)
                version = user_version(conn)
            self.journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise ledger_error(self.path, exc, "opened") from exc
        if version != SCHEMA_VERSION:
            written_by = schema_writer(conn, version) if version > SCHEMA_VERSION else None
            conn.close()
            if version > SCHEMA_VERSION:
                raise newer_schema_error(self.path, version, written_by=written_by)
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

    # -- the integrity check

    def _ensure_whole(self, conn: sqlite3.Connection) -> None:
        """Raise :class:`Damaged` if SQLite finds the file damaged; once per process."""
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
            raise Damaged(problem)
        self._checked = True
        mark_checked(self.path, self._identity)

    # -- connections

    def _open_connection(self) -> sqlite3.Connection:
        """The write connection as it is (not checked, nor followed if moved), or why there
        is none: closed, broken by damage that could not be moved aside, read-only."""
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
                    self._reader = connect(self.path)
                yield self._reader
            except sqlite3.Error as exc:
                raise ledger_error(self.path, exc, "read") from exc

    # -- made by the bases built on this one: named here so that the calls above type-check

    def _replace_damaged(self, problem: str, identity: Identity | None) -> sqlite3.Connection:
        """Move the damaged file aside and open a new one (``DamageHandling``'s)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Write the acknowledgements left for later (``Commits``')."""
        raise NotImplementedError
