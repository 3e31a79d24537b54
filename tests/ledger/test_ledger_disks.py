"""Every ledger error is a LedgerError with a reason and advice that fit: a read-only or
full disk (real ones: a tmpfs of the test's own), a lock held by another program, a newer
schema. A healthy file is never called damaged, nor advised to be moved aside."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from jobmagic.ledger import SCHEMA_VERSION, Ledger, LedgerError, LedgerReason, _connections
from jobmagic.ledger._errors import is_damage, ledger_error, reason_of
from tests.ledger.conftest import Tmpfs
from tests.ledger.ledger_helpers import build, digest, overwrite_page, quick_check, table_pages


def _healthy_advice(error: LedgerError) -> None:
    """What every error about a healthy file must (not) say."""
    assert "move" not in str(error).lower() and "damaged" not in str(error).lower()
    assert error.hint and str(error).endswith(error.hint)


# --- read-only ------------------------------------------------------------------------


def test_a_new_ledger_on_a_read_only_disk(tmpfs: Tmpfs) -> None:
    tmpfs.read_only()
    with pytest.raises(LedgerError) as caught:
        Ledger(tmpfs.path / "home" / "ledger.sqlite3")
    assert caught.value.reason is LedgerReason.READ_ONLY
    _healthy_advice(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


def test_opening_a_ledger_on_a_read_only_disk(tmpfs: Tmpfs) -> None:
    path = build(tmpfs.path / "ledger.sqlite3", 50)
    tmpfs.read_only()
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert caught.value.reason is LedgerReason.READ_ONLY
    _healthy_advice(caught.value)
    # A reader still reads it (no -shm can be made there: SQLite reads it as immutable),
    # and cannot write to it.
    with Ledger(path, read_only=True) as reader:
        assert len(reader.entries()) == 50
        with pytest.raises(LedgerError) as refused:
            reader.record_attempt(host="h", target="t")
        assert refused.value.reason is LedgerReason.READ_ONLY
    assert sorted(p.name for p in tmpfs.path.iterdir()) == ["ledger.sqlite3"]


def test_a_damaged_ledger_on_a_read_only_disk_is_reported_not_moved(tmpfs: Tmpfs) -> None:
    path = build(tmpfs.path / "ledger.sqlite3", 200)
    pages = table_pages(path)
    overwrite_page(path, pages[len(pages) // 2])
    before = digest(path)
    tmpfs.read_only()
    # A writer cannot write there, nor move the file aside; a reader reads up to the damage
    # and says so.
    ledger: Ledger | None = None
    with pytest.raises(LedgerError) as writer:
        ledger = Ledger(path)
        ledger.record_attempt(host="h", target="t")
    if ledger is not None:
        ledger.close()
    if writer.value.reason is LedgerReason.DAMAGED:
        assert "could not be moved aside (Read-only file system)" in str(writer.value)
    else:
        assert writer.value.reason is LedgerReason.READ_ONLY
    with pytest.raises(LedgerError) as reader, Ledger(path, read_only=True) as opened:
        opened.entries()
    assert reader.value.reason is LedgerReason.DAMAGED
    assert digest(path) == before
    assert not [p for p in tmpfs.path.iterdir() if ".damaged-" in p.name]


# --- full -----------------------------------------------------------------------------


def test_a_ledger_whose_disk_fills_up(tmpfs: Tmpfs) -> None:
    path = build(tmpfs.path / "ledger.sqlite3", 50)
    with Ledger(path) as ledger:
        ledger.record_attempt(host="h", target="t")
        filler = tmpfs.fill()
        big = {"blob": "x" * 400_000}  # more than any room left in the log
        with pytest.raises(LedgerError) as caught:
            ledger.record_attempt(host="h", target="big", params=big)
        assert caught.value.reason is LedgerReason.FULL
        _healthy_advice(caught.value)
        assert "free some space" in caught.value.hint
        assert ledger.pop_notices() == []
        filler.unlink()
        ledger.record_attempt(host="h", target="big", params=big)
        assert [e.target for e in ledger.entries()][:2] == ["big", "t"]
    assert quick_check(path) == "ok"


def test_a_new_ledger_on_a_full_disk(tmpfs: Tmpfs) -> None:
    tmpfs.fill()
    with pytest.raises(LedgerError) as caught:
        Ledger(tmpfs.path / "ledger.sqlite3")
    assert caught.value.reason is LedgerReason.FULL
    _healthy_advice(caught.value)


# --- locked, newer, closed ---------------------------------------------------------------


def test_a_lock_held_by_another_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = build(tmp_path / "ledger.sqlite3", 5)
    monkeypatch.setattr(_connections, "BUSY_TIMEOUT_S", 0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with Ledger(path) as ledger:
            ledger.record_attempt(host="h", target="t")
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(LedgerError) as caught:
                ledger.record_attempt(host="h", target="t")
            other.execute("ROLLBACK")
            assert caught.value.reason is LedgerReason.LOCKED
            _healthy_advice(caught.value)
            ledger.record_attempt(host="h", target="t")
    finally:
        other.close()


def test_a_newer_schema_is_refused_by_writers_and_readers(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", 5)
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for read_only in (False, True):
        with pytest.raises(LedgerError) as caught:
            Ledger(path, read_only=read_only)
        assert caught.value.reason is LedgerReason.NEWER_SCHEMA
        assert str(path) in str(caught.value) and "Upgrade jobmagic" in caught.value.hint


def test_closed_and_missing_attempts_have_their_reasons(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with pytest.raises(LedgerError) as missing:
        ledger.get(7)
    ledger.close()
    with pytest.raises(LedgerError) as closed:
        ledger.record_attempt(host="h", target="t")
    assert (missing.value.reason, closed.value.reason) == (
        LedgerReason.NO_ATTEMPT,
        LedgerReason.CLOSED,
    )


# --- the mapping itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (errno.EROFS, LedgerReason.READ_ONLY),
        (errno.ENOSPC, LedgerReason.FULL),
        (errno.EDQUOT, LedgerReason.FULL),
        (errno.EACCES, LedgerReason.NO_ACCESS),
    ],
)
def test_os_errors_by_errno(tmp_path: Path, number: int, reason: LedgerReason) -> None:
    error = ledger_error(tmp_path / "l.sqlite3", OSError(number, "words"), "created")
    assert error.reason is reason
    _healthy_advice(error)


def test_sqlite_errors_by_code(tmp_path: Path) -> None:
    """Real errors from SQLite, mapped by their codes."""
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"\0" * 50 + b"junk" * 2000)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError) as notadb:
            conn.execute("SELECT * FROM sqlite_master").fetchall()
    finally:
        conn.close()
    assert is_damage(notadb.value)
    assert reason_of(notadb.value, path) is LedgerReason.DAMAGED
    healthy = build(tmp_path / "ok.sqlite3", 1)
    conn = sqlite3.connect(f"{healthy.absolute().as_uri()}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError) as readonly:
            conn.execute("INSERT INTO attempts (state, created_at, updated_at) VALUES (1, 2, 3)")
    finally:
        conn.close()
    assert not is_damage(readonly.value)
    # SQLITE_READONLY on a writable disk: a connection that may only read.
    assert reason_of(readonly.value, healthy) is LedgerReason.READ_ONLY
