"""Recovering a damaged ledger: every readable row, of any schema version, copied into the
current ledger once, with what is left to settle against the server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobmagic.ledger import AttemptState, Ledger, LedgerError, LedgerReason
from jobmagic.ledger._schema import MIGRATIONS, migrate
from tests.ledger.ledger_helpers import (
    build,
    digest,
    entries,
    overwrite_page,
    table_pages,
    truncate,
    with_log,
)

N = 600
UNSETTLED = {AttemptState.PENDING, AttemptState.UNKNOWN}


def _moved_aside(path: Path) -> tuple[Ledger, Path]:
    """A ledger (open) whose damaged file it moved aside, and where it went."""
    ledger = Ledger(path)
    ledger.record_attempt(host="h", target="new")
    (notice,) = ledger.pop_notices()
    return ledger, notice.moved_to


def test_every_readable_row_of_a_page_damaged_file_comes_back(tmp_path: Path) -> None:
    path = build(tmp_path / "ledger.sqlite3", N)
    pages = table_pages(path)
    overwrite_page(path, pages[len(pages) // 2])
    expected = {entry.created_at: (number, entry) for number, entry in enumerate(entries(N), 1)}
    ledger, aside = _moved_aside(path)
    with ledger:
        before = digest(aside)
        summary = ledger.recover(aside)
        assert digest(aside) == before  # read from a copy: not a byte of it changed
        recovered = [e for e in ledger.entries() if e.target != "new"]
        # One page lost (a few rows): the rest back, each once, with its id and contents;
        # the lost ones that were settled rebuilt in part from the indexes.
        assert 0 < summary.unreadable + summary.partial < 20
        assert summary.recovered == len(recovered) == N - summary.unreadable
        assert summary.already_present == 0 and summary.schema_version == len(MIGRATIONS)
        partial = [e for e in recovered if e.error_type == "LedgerRecovery"]
        assert len(partial) == summary.partial
        for entry in recovered:
            original_id, original = expected[entry.created_at]
            assert entry.id == original_id
            assert (entry.state, entry.run_name, entry.application_id) == (
                original.state,
                original.run_name,
                original.application_id,
            )
            if entry not in partial:
                assert dict(entry.params) == dict(original.params)
                assert (entry.host, entry.target) == (original.host, original.target)
            else:
                assert entry.state is AttemptState.ACKNOWLEDGED and entry.params == {}
        assert set(summary.to_reconcile) == {e.id for e in recovered if e.state in UNSETTLED}
        assert summary.to_reconcile  # the fixture's pending and unknown attempts
        # Twice is once: everything is already there.
        again = ledger.recover(aside)
        assert (again.recovered, again.already_present) == (0, summary.recovered)
        assert "Recovered 0 runs" in str(again)


def test_the_rows_of_the_log_come_back_too(tmp_path: Path) -> None:
    source = build(tmp_path / "source.sqlite3", 50)
    path = tmp_path / "ledger.sqlite3"
    with_log(source, path, extra=30)
    overwrite_page(path, table_pages(path)[0])
    ledger, aside = _moved_aside(path)
    with ledger:
        summary = ledger.recover(aside)
        targets = [e for e in ledger.entries() if e.target != "new"]
    # The first page's rows are lost; the thirty in the log, never in the file, are back.
    assert summary.recovered == len(targets) >= 30
    assert summary.recovered + summary.unreadable == 80


@pytest.mark.parametrize("damage", ["root page", "truncated"])
def test_a_badly_damaged_file_gives_what_it_can(tmp_path: Path, damage: str) -> None:
    path = build(tmp_path / "ledger.sqlite3", N)
    if damage == "root page":
        overwrite_page(path, 2)
    else:
        truncate(path, 0.5)
    ledger, aside = _moved_aside(path)
    with ledger:
        try:
            summary = ledger.recover(aside)
        except LedgerError as error:  # nothing of it could be read
            assert error.reason is LedgerReason.DAMAGED
            return
        assert summary.recovered + summary.unreadable == N
        assert summary.recovered == len(ledger.entries()) - 1
        if damage == "root page":
            # The table's root is gone: what comes back is what its indexes held, settled
            # attempts only (an unsettled one without its params cannot be reconciled).
            assert summary.partial == summary.recovered > 0
            assert summary.to_reconcile == ()


def test_a_file_of_the_first_schema_is_recovered(tmp_path: Path) -> None:
    """A file written by the first jobmagic: no candidates_json, no rerun_of, no indexes."""
    old = tmp_path / "v1.sqlite3"
    raw = sqlite3.connect(old, isolation_level=None)
    assert migrate(raw, MIGRATIONS[:1]) == 1
    for index, state in enumerate(["acknowledged", "unknown", "pending"]):
        raw.execute(
            "INSERT INTO attempts (state, created_at, updated_at, target, application_id, "
            "run_name, params_json) VALUES (?, ?, ?, 'train', 'app-1', ?, ?)",
            (
                state,
                f"2024-01-01T00:00:0{index}.000000Z",
                f"2024-01-01T00:00:0{index}.000000Z",
                f"old-{index}" if state == "acknowledged" else None,
                '{"lr": "1"}',
            ),
        )
    raw.close()
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        summary = ledger.recover(old)
        got = {e.id: e for e in ledger.entries()}
    assert (summary.schema_version, summary.recovered, summary.unreadable) == (1, 3, 0)
    assert sorted(got) == [1, 2, 3]
    assert (got[1].run_name, got[1].state) == ("old-0", AttemptState.ACKNOWLEDGED)
    assert {e.state.value for e in got.values() if e.id in summary.to_reconcile} == {
        "unknown",
        "pending",
    }
    assert all(e.rerun_of is None and e.candidates == () for e in got.values())


def test_an_attempt_already_present_is_not_copied_again(tmp_path: Path) -> None:
    old = build(tmp_path / "old.sqlite3", 20)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        # Ten of them already here (copied before, under other ids).
        ledger.import_entries(list(entries(20))[:10])
        ledger.record_attempt(host="h", target="mine")
        summary = ledger.recover(old)
        assert (summary.recovered, summary.already_present) == (10, 10)
        assert len(ledger.entries()) == 21
        # Ids 1-11 were taken here: the copied attempts got new ones.
        assert all(entry_id > 11 for entry_id in summary.to_reconcile)


def test_recover_refuses_its_own_file_and_a_missing_one(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        with pytest.raises(LedgerError, match="own file"):
            ledger.recover(ledger.path)
        with pytest.raises(LedgerError) as caught:
            ledger.recover(tmp_path / "nothing.sqlite3")
        assert caught.value.reason is LedgerReason.MISSING
