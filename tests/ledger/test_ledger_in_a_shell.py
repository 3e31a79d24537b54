"""A damaged ledger as a notebook user meets it: the next trigger goes on in a fresh ledger,
one short paragraph says where the old file went and how to recover it, and
`%jobmagic ledger recover` (and `jobmagic.recover_ledger`) brings its runs back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from ledger_helpers import build, overwrite_page, quick_check, table_pages
from sessions import shell_on

import jobmagic
from jobmagic.sandbox import SandboxServer


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(shared_sandbox, tmp_path / "ledger.db", monkeypatch) as ip:
        yield ip


def test_a_trigger_goes_on_past_a_damaged_ledger_and_recover_brings_its_runs_back(
    shell: InteractiveShell, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = tmp_path / "ledger.db"
    build(ledger, 300)  # a year of someone's runs, written by an earlier kernel
    overwrite_page(ledger, table_pages(ledger)[len(table_pages(ledger)) // 2])
    assert quick_check(ledger) != "ok"
    with caplog.at_level(logging.WARNING, logger="jobmagic"):
        run = shell.run_line_magic("trigger_job", "sandbox:demo:hello name=Ada -q")
    assert run.wait(timeout=60).status.value == "FINISHED"  # the trigger went on
    moved = [
        path
        for path in sorted(tmp_path.glob("ledger.db.damaged-*"))
        if not path.name.endswith(("-wal", "-shm"))  # its companions moved beside it
    ]
    assert len(moved) == 1 and quick_check(moved[0]) != "ok"  # kept, never written to
    said = " ".join(record.getMessage() for record in caplog.records)
    assert str(moved[0]) in said and "%jobmagic ledger recover" in said
    assert "Traceback" not in said
    # The fresh ledger holds the new run; recovering copies the old ones in beside it.
    recovered = shell.run_line_magic("jobmagic", "ledger recover")
    assert recovered.summary.recovered >= 250 and recovered.summary.source == moved[0]
    shell.run_line_magic("job_runs", "--all --stored -o df")
    frame = shell.user_ns["df"]
    assert run.name in set(frame["name"].dropna()) and len(frame) >= 251
    # Recovering twice copies nothing twice.
    again = jobmagic.recover_ledger(moved[0])
    assert again.summary.recovered == 0 and again.summary.already_present >= 250


def test_recover_without_a_damaged_file_says_so(shell: InteractiveShell) -> None:
    shell.run_line_magic("trigger_job", "sandbox:demo:hello name=Bo -q")
    with pytest.raises(UsageError, match="no damaged ledger"):
        shell.run_line_magic("jobmagic", "ledger recover")
    with pytest.raises(UsageError, match=r"invalid choice: .repair."):
        shell.run_line_magic("jobmagic", "ledger repair")
