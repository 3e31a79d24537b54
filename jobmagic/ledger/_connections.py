"""SQLite connections to the ledger file, and the transactions written on them.

Functions of a connection or a path, with no state of their own: the :class:`Ledger` holds
the connections and decides when each is opened, used and closed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobmagic.ledger._damage import close_without_checkpoint
from jobmagic.ledger._schema import BUSY_TIMEOUT_S

__all__ = [
    "close_moved",
    "connect",
    "ensure_file",
    "ids_after",
    "is_sqlite_file",
    "same_file",
    "transaction",
    "undo",
    "user_version",
]


def connect(path: Path, *, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """A connection to the ledger file, shared by threads (each use under a lock).

    >>> import tempfile, pathlib
    >>> conn = connect(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3")
    >>> conn.in_transaction, conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    (False, True)
    >>> conn.close()
    """
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


def ensure_file(path: Path) -> bool:
    """Make the file if there is none; whether it is new (empty).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub" / "l.sqlite3"
    >>> ensure_file(path), oct(path.stat().st_mode & 0o777)
    (True, '0o600')
    """
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


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One committed transaction; a savepoint inside an open one (a batch).

    >>> conn = sqlite3.connect(":memory:", isolation_level=None)
    >>> _ = conn.execute("CREATE TABLE t (x)")
    >>> with transaction(conn):
    ...     _ = conn.execute("INSERT INTO t VALUES (1)")
    >>> conn.execute("SELECT COUNT(*) FROM t").fetchone()[0], conn.in_transaction
    (1, False)
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT one_write")
        try:
            yield
        except BaseException:
            undo(conn, "one_write")
            raise
        conn.execute("RELEASE one_write")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        undo(conn, None)
        raise
    conn.execute("COMMIT")


def undo(conn: sqlite3.Connection, savepoint: str | None) -> None:
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


def ids_after(conn: sqlite3.Connection, highest: int) -> None:
    """Make the attempts' next id at least ``highest + 1`` (AUTOINCREMENT's counter)."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'attempts'", (highest,)
        )
        if cursor.rowcount == 0:
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('attempts', ?)", (highest,)
            )


def user_version(conn: sqlite3.Connection) -> int:
    """The file's schema version (SQLite's ``user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


_SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite_file(path: Path) -> bool:
    """Whether the file starts as a SQLite database does (``False`` if it cannot be read)."""
    try:
        with open(path, "rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def same_file(one: Path, other: Path) -> bool:
    """Whether both paths name one file (``False`` if either cannot be found)."""
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


#: Connections to a file moved aside whose new name was not found: closing them could write
#: to it and delete the new file's log by name, so they stay open until the process ends.
_ABANDONED: list[sqlite3.Connection] = []


def close_moved(moved_to: Path | None, conns: list[sqlite3.Connection]) -> None:
    """Close ``conns`` to a file now at ``moved_to`` without writing to it; if where it went
    is not known, leave them open (see :data:`_ABANDONED`)."""
    if moved_to is not None:
        close_without_checkpoint(moved_to, conns)
    else:
        _ABANDONED.extend(conns)
