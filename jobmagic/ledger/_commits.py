"""How a :class:`~jobmagic.ledger.Ledger`'s writes are committed: under its lock, after the
first-write check, after the acknowledgements left for later, alone or in a batch; damage
met by a write moves the file aside and the write is made again on the new one.

What each write is (its statement and values) is :mod:`._statements`'s; the public writes
are :mod:`._writes`'.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._connections import undo
from jobmagic.ledger._damage_handling import DamageHandling
from jobmagic.ledger._errors import is_damage, ledger_error
from jobmagic.ledger._statements import ACKNOWLEDGE, acknowledged_values

__all__ = ["Commits"]

logger = logging.getLogger("jobmagic")

_T = TypeVar("_T")


class Commits(DamageHandling):
    """The committing of a Ledger's writes (see the Ledger for what it promises)."""

    def _connection(self) -> sqlite3.Connection:
        """The write connection, once every write left for later is in: a write that may
        touch many rows (``update_runs``) comes after them."""
        conn = self._writer()
        if self._unwritten:
            self._write_unwritten(conn)
        return conn

    # -- acknowledgements left for later

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
                cursor = conn.execute(ACKNOWLEDGE, acknowledged_values(attempt_id, run, raw, None))
                self._require_row(cursor, attempt_id)
            if began:
                conn.execute("COMMIT")
        except Exception:
            if began:
                undo(conn, None)
            # Not raised: this runs inside reads, which must not fail for it.
            logger.warning(
                "jobmagic could not write %d acknowledgements to its ledger; their attempts "
                "stay pending until `%%job_runs --reconcile`",
                len(unwritten),
                exc_info=True,
            )

    # -- batches, and every write's way in

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
                    undo(conn, None if outer else "a_batch")
                    if outer and self._damage_in_batch is not None:
                        self._replace_damaged(self._damage_in_batch, self._identity)
                    raise
                if outer and self._damage_in_batch is not None:
                    undo(conn, None)
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

    @staticmethod
    def _require_row(cursor: sqlite3.Cursor, attempt_id: int) -> None:
        if cursor.rowcount == 0:
            raise LedgerError(
                f"The run ledger has no attempt {attempt_id}.", reason=LedgerReason.NO_ATTEMPT
            )
