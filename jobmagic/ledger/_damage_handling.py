"""What a :class:`~jobmagic.ledger.Ledger` does when its file is damaged or moved: the
damaged file is moved aside (never written to), a new one is opened whose ids continue, and
the user is told; a file another process moved aside is followed to the new one.

The file-level steps (the check, the renaming, closing without a checkpoint) are
:mod:`._damage`'s; this is how a Ledger's connections and state go through them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._connections import close_moved, ids_after, is_sqlite_file
from jobmagic.ledger._damage import (
    Identity,
    LedgerNotice,
    close_without_checkpoint,
    damaged_files,
    file_identity,
    find_moved,
    move_aside,
)
from jobmagic.ledger._entries import utcnow
from jobmagic.ledger._errors import ledger_error
from jobmagic.ledger._file import Damaged, LedgerFile
from jobmagic.ledger._recover import highest_id

__all__ = ["DamageHandling"]

logger = logging.getLogger("jobmagic")

_T = TypeVar("_T")


class DamageHandling(LedgerFile):
    """The connections of a Ledger that outlive damage, and the notices of it."""

    # -- connections that outlive damage

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
            except Damaged as damaged:
                conn = self._replace_damaged(damaged.problem, self._identity)
            except sqlite3.Error as exc:
                raise ledger_error(self.path, exc, "checked") from exc
        return conn

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

    # -- moving aside, and following a file another process moved

    def _replace_damaged(self, problem: str, identity: Identity | None) -> sqlite3.Connection:
        """Move the damaged file aside and open a new one (this thread holds ``_lock``).

        ``identity`` is the file found damaged: if this object has already replaced it (two
        threads met the damage), the new file is kept.
        """
        if identity != self._identity and self._conn is not None:
            return self._conn
        if not is_sqlite_file(self.path):
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
                    ids_after(conn, highest)
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
            close_moved(moved_to, old)
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

    # -- telling the user

    def _tell(self, notice: LedgerNotice) -> None:
        self._notices.append(notice)
        # Logged too: a caller that never pops notices must not leave it silent.
        logger.warning("%s", notice.text)

    def pop_notices(self) -> list[LedgerNotice]:
        """What happened to the file that the user must be told (a damaged file moved
        aside), each once: the list is emptied.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
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
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ledger.damaged_files()
        []
        """
        return damaged_files(self.path)
