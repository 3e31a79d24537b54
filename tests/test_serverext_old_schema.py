"""The server extension meeting a ledger an older jobmagic wrote (schema 5, before sweeps
and the metric cache): its first listing upgrades the file through the server's one writer,
as a kernel's first trigger would, and searches it, instead of answering "open it once
without read_only"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jobmagic.ledger import SCHEMA_VERSION
from jobmagic.ledger._schema import MIGRATIONS, migrate
from jobmagic.serverext.runs_json import PageArgs
from jobmagic.serverext.service import RunsService


def test_a_schema_5_ledger_is_upgraded_by_the_first_listing_and_searched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    migrate(raw, MIGRATIONS[:5])
    for index, name in enumerate(("train-old1", "eval-old2")):
        raw.execute(
            "INSERT INTO attempts (state, created_at, updated_at, target, run_name, "
            "run_status, params_json) VALUES ('acknowledged', ?, ?, 'sandbox:demo:x', ?, "
            "'FINISHED', '{\"lr\": \"0.25\"}')",
            (f"2024-01-0{index + 1}T00:00:00.000000Z",) * 2 + (name,),
        )
    raw.close()
    service = RunsService(root_dir=str(tmp_path), ledger_path=path, background=False)
    try:
        found = service.listing(PageArgs(text="TRAIN-old"))
        assert [run["name"] for run in found["runs"]] == ["train-old1"]
        assert found["total"] == 1 and "notice" not in found
        assert service.listing(PageArgs(text="0.25"))["total"] == 2
    finally:
        service.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()
