"""What the ledger's damage tests share: real ledger files, filled, then damaged on disk the
way a disk or a crash damages them (pages overwritten, the file cut short)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jobmagic.ledger import AttemptState, Ledger, LedgerEntry
from jobmagic.models import JobRun, RunStatus

COMPANIONS = ("-wal", "-shm")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def entries(n: int, *, first: int = 0) -> Iterator[LedgerEntry]:
    """``n`` attempts: most acknowledged with a run, every seventh still pending, every
    eleventh unknown (the ones a recovery must hand to reconcile)."""
    for index in range(first, first + n):
        moment = START + timedelta(seconds=index)
        if index % 7 == 3:
            state, run = AttemptState.PENDING, None
        elif index % 11 == 5:
            state, run = AttemptState.UNKNOWN, None
        else:
            state = AttemptState.ACKNOWLEDGED
            run = JobRun(name=f"run-{index}", status=RunStatus.FINISHED, application_id="app-1")
        yield LedgerEntry(
            id=0,
            state=state,
            created_at=moment,
            updated_at=moment,
            host="http://127.0.0.1:8000",
            target="train",
            application_id="app-1",
            run_name=None if run is None else run.name,
            params={"lr": f"0.{index}", "padding": "x" * 300},  # a few rows per page
            session_id="s1",
            run=run,
        )


def build(path: Path, n: int) -> Path:
    """A closed ledger of ``n`` attempts (ids 1..n), all in the main file (no log), as
    another process leaves it: a file this process has not checked (another inode)."""
    side = path.with_name(f"{path.name}.building")
    with Ledger(side) as ledger:
        ledger.import_entries(entries(n))
    shutil.copyfile(side, path)
    side.unlink()
    return path


def page_size(path: Path) -> int:
    size = int.from_bytes(path.read_bytes()[16:18], "big")
    return 65536 if size == 1 else size


def table_pages(path: Path) -> list[int]:
    """The leaf pages of the attempts table, in file order (SQLite's dbstat table)."""
    # Read-only: a connection that may write would copy a log into the file as it closes.
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'attempts' AND pagetype = 'leaf' "
            "ORDER BY pageno"
        ).fetchall()
    finally:
        conn.close()
    return [int(row[0]) for row in rows]


def overwrite_page(path: Path, number: int) -> None:
    """Fill page ``number`` (1-based) with bytes no b-tree page starts with."""
    size = page_size(path)
    with open(path, "r+b") as file:
        file.seek((number - 1) * size)
        file.write(b"\xde\xad\xbe\xef" * (size // 4))


def truncate(path: Path, fraction: float = 0.5) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(int(size * fraction))


def quick_check(path: Path) -> str:
    """SQLite's verdict on the file (read-only, on a copy: the file is not touched)."""
    copy = path.with_name(path.name + ".check")
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return str(conn.execute("PRAGMA quick_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
        copy.unlink()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_log(source: Path, target: Path, extra: int) -> None:
    """``source`` plus ``extra`` attempts committed to its -wal and not yet copied into the
    file, as a crashed process leaves it, copied to ``target`` (with -wal and -shm)."""
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        # A read holds the file open: the Ledger below is not the last to close, so it does
        # not copy its log into the file.
        conn.execute("SELECT COUNT(*) FROM attempts").fetchone()
        with Ledger(source) as ledger:
            ledger.import_entries(entries(extra, first=10_000))
        # The Ledger closed, but this connection is still open: the log stays.
        for suffix in ("", *COMPANIONS):
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    finally:
        conn.close()
