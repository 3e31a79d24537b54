"""The Runs panel's text search through the server's in-memory index: the same runs as the
ledger's own LIKE over every row, kept current as kernels add and name runs, and read again
when the file is replaced."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobmagic.ledger import Ledger, LedgerQuery
from jobmagic.models import JobRun, RunStatus
from jobmagic.serverext import service as service_module
from jobmagic.serverext.runs_json import PageArgs
from jobmagic.serverext.service import RunsService

TEXTS = ["train", "TRAIN-A", "0.1", "café", "CAFÉ", "50%_", 'say "hi"', "scan", "lr", "x", "zz"]


def _fill(path: Path) -> dict[str, int]:
    rows = [
        ("train-a1", "sandbox:demo:train", {"lr": "0.1"}, "lr-scan"),
        ("train-b2", "sandbox:demo:train", {"lr": "0.01", "note": "café"}, None),
        ("eval-c3", "far:ws:eval", {"note": "50%_off", "q": 'say "hi"'}, None),
        ("eval-d4", "far:ws:eval", {"nested": '{"x": 1}'}, "scan-2"),
    ]
    ids: dict[str, int] = {}
    with Ledger(path) as ledger:
        for name, target, params, sweep in rows:
            attempt = ledger.record_attempt(host="h", target=target, params=params, sweep=sweep)
            ledger.record_acknowledged(attempt, JobRun(name=name, status=RunStatus.FINISHED))
            ids[name] = attempt
        ids["pending"] = ledger.record_attempt(host="h", target="sandbox:demo:sleep")
    return ids


def _by_like(path: Path, text: str) -> list[int]:
    with Ledger(path, read_only=True) as ledger:
        return [int(row[0]) for row in ledger.rows(LedgerQuery(text=text), ["id"])]


def _by_panel(service: RunsService, text: str) -> list[int]:
    return [int(run["id"]) for run in service.listing(PageArgs(text=text, limit=500))["runs"]]


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite3"


@pytest.mark.parametrize("cap", [10_000, 1])
def test_the_index_finds_what_like_finds(
    ledger_path: Path, tmp_path: Path, cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "NARROWED_CAP", cap)  # 1: most searches read all
    _fill(ledger_path)
    service = RunsService(root_dir=str(tmp_path), ledger_path=ledger_path, background=False)
    try:
        for text in TEXTS:
            assert _by_panel(service, text) == _by_like(ledger_path, text), text
        assert _by_panel(service, "café") and _by_panel(service, '"hi"')
        assert not _by_panel(service, "note")  # a param's name is not its value
    finally:
        service.close()


def test_runs_added_and_named_later_are_found(ledger_path: Path, tmp_path: Path) -> None:
    ids = _fill(ledger_path)
    service = RunsService(root_dir=str(tmp_path), ledger_path=ledger_path, background=False)
    try:
        assert _by_panel(service, "sleep-") == []
        with Ledger(ledger_path) as ledger:
            # The pending attempt gets its run's name; another kernel adds a run.
            ledger.record_acknowledged(
                ids["pending"], JobRun(name="sleep-e5", status=RunStatus.RUNNING)
            )
            late = ledger.record_attempt(host="h", target="t", params={"seed": "sleep-7"})
        assert _by_panel(service, "sleep-") == [late, ids["pending"]]
        assert _by_panel(service, "sleep-") == _by_like(ledger_path, "sleep-")
    finally:
        service.close()


def test_a_replaced_ledger_file_is_read_again(ledger_path: Path, tmp_path: Path) -> None:
    _fill(ledger_path)
    service = RunsService(root_dir=str(tmp_path), ledger_path=ledger_path, background=False)
    try:
        assert len(_by_panel(service, "train")) == 2
        # Moved aside (as after damage) and a new ledger started, with other runs.
        shutil.move(ledger_path, tmp_path / "ledger.sqlite3.damaged-1")
        for companion in ("-wal", "-shm"):
            Path(f"{ledger_path}{companion}").unlink(missing_ok=True)
        with Ledger(ledger_path) as ledger:
            fresh = ledger.record_attempt(host="h", target="sandbox:demo:train")
        assert _by_panel(service, "train") == [fresh]
    finally:
        service.close()
