"""A damaged ledger is never written to and never lost: a writer moves it aside (with its
-wal and -shm), starts a new one and says so; a reader only reports it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from jobmagic.ledger import Ledger, LedgerError, LedgerReason
from jobmagic.ledger._schema import MIGRATIONS, migrate
from jobmagic.models import JobRun, RunStatus
from tests.ledger.ledger_helpers import (
    COMPANIONS,
    build,
    digest,
    overwrite_page,
    quick_check,
    table_pages,
    truncate,
    with_log,
)

N = 600


def _middle_page(path: Path) -> None:
    pages = table_pages(path)
    overwrite_page(path, pages[len(pages) // 2])


def _page_two(path: Path) -> None:
    overwrite_page(path, 2)  # the first page after the header's: the table's root


def _cut(path: Path) -> None:
    truncate(path, 0.5)


DAMAGES: dict[str, Callable[[Path], None]] = {
    "one middle page": _middle_page,
    "the page after page 1": _page_two,
    "truncated": _cut,
}


@pytest.fixture(params=list(DAMAGES))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A ledger of N attempts, damaged past its header (the header itself intact)."""
    path = build(tmp_path / "ledger.sqlite3", N)
    header = path.read_bytes()[:100]
    DAMAGES[request.param](path)
    assert path.read_bytes()[:100] == header
    assert quick_check(path) != "ok"
    return path


def _asides(path: Path) -> list[Path]:
    return sorted(
        p for p in path.parent.glob(f"{path.name}.damaged-*") if not p.name.endswith(COMPANIONS)
    )


def test_a_writer_moves_a_damaged_file_aside_and_writes_to_a_new_one(damaged: Path) -> None:
    before = digest(damaged)
    with Ledger(damaged) as ledger:
        attempt = ledger.record_attempt(host="h", target="train", params={"lr": "1"})
        (notice,) = ledger.pop_notices()
        assert ledger.pop_notices() == []  # told once
        entries = ledger.entries()
    (aside,) = _asides(damaged)
    with Ledger(damaged, read_only=True) as reader:
        assert reader.damaged_files() == [aside]
    # Not one byte of the damaged file changed: renamed, never written to.
    assert digest(aside) == before
    assert notice.moved_to == aside and notice.path == damaged
    assert str(aside) in notice.text and "%jobmagic ledger recover" in notice.text
    assert "recover_ledger" in notice.text
    # The new ledger is whole, holds the new attempt only, and its ids follow the old ones,
    # so no id a caller still holds names another attempt.
    assert quick_check(damaged) == "ok"
    assert [(e.id, e.target) for e in entries] == [(attempt, "train")]
    conn = sqlite3.connect(damaged)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_the_new_ledger_ids_start_after_the_old_ones(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", N)
    _middle_page(path)
    with Ledger(path) as ledger:
        assert ledger.record_attempt(host="h", target="t") == N + 1


def test_the_log_and_shared_memory_go_aside_with_the_file(tmp_path: Path) -> None:
    source = build(tmp_path / "source.sqlite3", N)
    path = tmp_path / "ledger.sqlite3"
    with_log(source, path, extra=20)
    assert all(Path(f"{path}{suffix}").exists() for suffix in COMPANIONS)
    _middle_page(path)
    assert quick_check(path) != "ok"
    digests = {suffix: digest(Path(f"{path}{suffix}")) for suffix in ("", "-wal")}
    with Ledger(path) as ledger:
        ledger.record_attempt(host="h", target="t")
        (notice,) = ledger.pop_notices()
    aside = notice.moved_to
    for suffix, before in digests.items():
        assert digest(Path(f"{aside}{suffix}")) == before, suffix
    assert Path(f"{aside}-shm").exists()
    # The log went with its file: nothing of the old one is left under the ledger's name.
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1


def _checked_then_damaged(tmp_path: Path) -> tuple[Path, int]:
    """A ledger this process has checked and written to, damaged afterwards (a middle page):
    the next writer in this process does not check it again, and meets the damage itself."""
    path = build(tmp_path / "ledger.sqlite3", N)
    with Ledger(path) as ledger:
        attempt = ledger.record_attempt(host="h", target="t")
    _middle_page(path)
    return path, attempt


def test_damage_met_by_a_later_write_moves_the_file_aside_too(tmp_path: Path) -> None:
    path, _attempt = _checked_then_damaged(tmp_path)
    with Ledger(path) as ledger:
        # By run name alone: a scan of the table, through the damaged page.
        assert ledger.update_runs([JobRun(name="run-1", status=RunStatus.FAILED)]) == 0
        (notice,) = ledger.pop_notices()
        assert notice.moved_to.exists() and quick_check(path) == "ok"
        ledger.record_attempt(host="h", target="after")
        assert [e.target for e in ledger.entries()] == ["after"]


def test_an_answer_to_an_attempt_of_the_moved_file_is_kept(tmp_path: Path) -> None:
    """A trigger's attempt was written, then a read met the damage and the file was moved
    aside: the answer still lands, on the attempt copied over from the old file."""
    path, attempt = _checked_then_damaged(tmp_path)
    with Ledger(path) as ledger:
        assert ledger.entries() == []  # meets the damage: moved aside
        ledger.record_acknowledged(attempt, JobRun(name="late", status=RunStatus.RUNNING))
        entry = ledger.get(attempt)
        assert (entry.target, entry.run_name) == ("t", "late")
        assert len(ledger.pop_notices()) == 1


def test_a_writer_that_only_reads_moves_the_damaged_file_aside(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", N)
    _middle_page(path)
    with Ledger(path) as ledger:
        assert ledger.entries() == []  # the read went on, in the new file
        (notice,) = ledger.pop_notices()
    assert notice.moved_to.exists() and quick_check(path) == "ok"


def test_a_reader_reports_the_damage_and_moves_nothing(damaged: Path) -> None:
    before = digest(damaged)
    listing = sorted(damaged.parent.iterdir())
    try:
        with Ledger(damaged, read_only=True) as reader:
            reader.entries()
    except LedgerError as error:
        assert error.reason is LedgerReason.DAMAGED
        assert "recover" in error.hint
    else:
        pytest.fail("a damaged file read in full raised nothing")
    assert digest(damaged) == before
    assert _asides(damaged) == []
    # SQLite may leave an empty log beside the file (a reader cannot delete it): no more.
    assert {p.name for p in damaged.parent.iterdir()} <= {
        *(p.name for p in listing),
        *(f"{damaged.name}{suffix}" for suffix in COMPANIONS),
    }
    log = Path(f"{damaged}-wal")
    assert not log.exists() or log.stat().st_size == 0


def test_an_old_damaged_file_is_moved_aside_not_migrated(tmp_path: Path) -> None:
    """A file of the first schema, damaged: checked before the migration (a write), so it
    keeps its schema and its bytes."""
    path = tmp_path / "ledger.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    migrate(raw, MIGRATIONS[:1])
    for index in range(400):
        raw.execute(
            "INSERT INTO attempts (state, created_at, updated_at, target, params_json) "
            "VALUES ('pending', ?, ?, 'train', ?)",
            (f"2024-01-01T00:00:{index % 60:02d}.000000Z",) * 2 + ('{"pad": "' + "x" * 300 + '"}',),
        )
    raw.close()
    _middle_page(path)
    before = digest(path)
    with Ledger(path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
        (notice,) = ledger.pop_notices()
    assert digest(notice.moved_to) == before
    assert int.from_bytes(notice.moved_to.read_bytes()[60:64], "big") == 1  # user_version


def test_a_reader_cannot_write(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", 3)
    with Ledger(path, read_only=True) as reader:
        assert len(reader.entries()) == 3
        with pytest.raises(LedgerError) as caught:
            reader.record_attempt(host="h", target="t")
    assert caught.value.reason is LedgerReason.READ_ONLY


def test_a_reader_of_no_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as caught:
        Ledger(tmp_path / "none.sqlite3", read_only=True)
    assert caught.value.reason is LedgerReason.MISSING
    assert not (tmp_path / "none.sqlite3").exists()


def test_a_file_that_is_not_sqlite_is_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my own notes, not a ledger\n" * 200)
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert caught.value.reason is LedgerReason.DAMAGED
    assert path.read_bytes().startswith(b"my own notes")
    assert _asides(path) == []


def test_the_file_is_checked_once_per_process_before_the_first_write(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", N)
    statements: list[str] = []

    def trace(ledger: Ledger) -> None:
        assert ledger._conn is not None
        ledger._conn.set_trace_callback(statements.append)

    def checks() -> int:
        return sum("quick_check" in statement.lower() for statement in statements)

    # build() leaves a file of N rows as another process would: not checked by this one.
    with Ledger(path) as ledger:
        trace(ledger)
        ledger.entries()
        assert checks() == 0  # reads do not check
        attempt = ledger.record_attempt(host="h", target="t")
        assert checks() == 1
        ledger.record_acknowledged(attempt, JobRun(name="r", status=RunStatus.RUNNING))
        ledger.record_unknown(ledger.record_attempt(host="h", target="t"))
        with ledger.batch():
            ledger.record_attempt(host="h", target="t")
        ledger.update_runs([JobRun(name="r", status=RunStatus.FINISHED)])
        assert checks() == 1
    with Ledger(path) as again:  # the same process, the same file: not checked again
        trace(again)
        again.record_attempt(host="h", target="t")
    assert checks() == 1


def test_a_batch_that_meets_damage_keeps_nothing_and_moves_the_file(tmp_path: Path) -> None:
    path, _attempt = _checked_then_damaged(tmp_path)
    with Ledger(path) as ledger:
        failures: list[LedgerError] = []
        with pytest.raises(LedgerError) as caught, ledger.batch():
            ledger.record_attempt(host="h", target="in-batch")
            for _ in range(2):
                try:
                    ledger.update_runs([JobRun(name="run-1", status=RunStatus.FAILED)])
                    ledger.record_attempt(host="h", target="in-batch")
                except LedgerError as error:
                    failures.append(error)
        assert caught.value.reason is LedgerReason.DAMAGED
        assert [error.reason for error in failures] == [LedgerReason.DAMAGED] * 2
        (notice,) = ledger.pop_notices()
        assert [e.target for e in ledger.entries()] == []  # none of the batch was kept
        ledger.record_attempt(host="h", target="after")
        assert [e.target for e in ledger.entries()] == ["after"]
    # Nor was any of it written to the old file, or its log.
    for suffix in ("", "-wal"):
        old = Path(f"{notice.moved_to}{suffix}")
        assert not old.exists() or b"in-batch" not in old.read_bytes()


def test_two_threads_meeting_the_damage_move_it_aside_once(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", N)
    _middle_page(path)
    with Ledger(path) as ledger:
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def work() -> None:
            barrier.wait()
            try:
                ledger.entries()
                ledger.record_attempt(host="h", target="t")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert len(ledger.pop_notices()) == 1
        assert len(ledger.entries()) == 4
    assert len(_asides(path)) == 1


def test_another_process_moving_the_file_aside_is_followed(tmp_path: Path) -> None:
    """Two kernels on one ledger: the one that finds the damage moves it; the other writes
    to the new file from its next write on, never to the moved one."""
    path = build(tmp_path / "ledger.sqlite3", N)
    with Ledger(path) as other:
        other.record_attempt(host="h", target="before")  # open, checked, written
        _middle_page(path)
        # This process remembers it checked the file: a new inode would be checked anew, so
        # the finder is simulated by a second object on a path it has not seen checked.
        with Ledger(path) as finder:
            finder._checked = False
            from jobmagic.ledger import _damage

            _damage._checked.clear()
            finder.record_attempt(host="h", target="finder")
            (notice,) = finder.pop_notices()
        before = digest(notice.moved_to)
        other.record_attempt(host="h", target="other")
        assert digest(notice.moved_to) == before
        assert [n.moved_to for n in other.pop_notices()] == [notice.moved_to]
        assert {e.target for e in other.entries()} == {"finder", "other"}
