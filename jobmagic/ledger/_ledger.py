"""The ledger: a SQLite file, each write one statement or one BEGIN IMMEDIATE transaction
on the writing connection, reads on a connection of their own.

:class:`Ledger` is assembled from one base per concern, each building on the one before:
the file and its connections (:mod:`._file`), what happens when it is damaged or moved
(:mod:`._damage_handling`), how writes are committed (:mod:`._commits`), the writes
themselves (:mod:`._writes`), named sweeps and the metric cache (:mod:`._experiments`),
and the reads (:mod:`._reads`).
"""

from __future__ import annotations

from types import TracebackType

from jobmagic.ledger._connections import close_moved
from jobmagic.ledger._damage import file_identity, find_moved
from jobmagic.ledger._experiments import LedgerExperiments
from jobmagic.ledger._reads import LedgerReads
from jobmagic.ledger._writes import LedgerWrites

__all__ = ["Ledger"]


class Ledger(LedgerWrites, LedgerExperiments, LedgerReads):
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
                close_moved(find_moved(self.path, self._identity), conns)
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
