"""Sweeps that last and the metric cache, on real ledger files: the schema's migrations and
its guard against newer files, named sweeps and their summaries, each run's latest metrics,
and what recovery and import carry over."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import fields, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobmagic._version import __version__
from jobmagic.ledger import (
    SCHEMA_VERSION,
    AttemptState,
    Ledger,
    LedgerEntry,
    LedgerError,
    LedgerQuery,
    LedgerReason,
    SweepRecord,
)
from jobmagic.ledger._schema import MIGRATIONS, migrate
from jobmagic.models import JobRun, RunStatus
from tests.ledger.ledger_helpers import COMPANIONS, digest, overwrite_page, table_pages

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone.utc)
APP = "app-train"


def _sweep(name: str = "lr-scan", **changes: object) -> SweepRecord:
    record = SweepRecord(
        name=name,
        kind="grid",
        host="http://127.0.0.1:8000",
        application_id=APP,
        application_fqn="sandbox:demo:train",
        target="sandbox:demo:train",
        objective="loss:min",
        space={"lr": [0.1, 0.01], "epochs": 3},
        notebook="work/scan.ipynb",
        created_at=T0,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def _run(ledger: Ledger, name: str, status: RunStatus, *, sweep: str = "lr-scan") -> int:
    attempt = ledger.record_attempt(host="h", target="train", application_id=APP, sweep=sweep)
    ledger.record_acknowledged(attempt, JobRun(name=name, status=status, application_id=APP))
    return attempt


# --- the schema ------------------------------------------------------------------------


def test_a_ledger_of_schema_5_is_migrated_and_its_runs_keep_no_sweep(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    assert migrate(raw, MIGRATIONS[:5]) == 5
    raw.execute(
        "INSERT INTO attempts (state, created_at, updated_at, run_name, application_id) "
        "VALUES ('acknowledged', '2026-01-01T00:00:00.000000Z', "
        "'2026-01-01T00:00:00.000000Z', 'old-1', 'app-1')"
    )
    raw.close()
    with Ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION >= 7
        [old] = ledger.entries()
        assert (old.run_name, old.sweep) == ("old-1", None)
        assert ledger.sweep_summaries() == [] and ledger.latest_metrics([("app-1", "old-1")]) == {}
    raw = sqlite3.connect(path)
    try:
        written = raw.execute("SELECT version, jobmagic FROM schema_versions").fetchall()
    finally:
        raw.close()
    assert written == [(SCHEMA_VERSION, __version__)]


@pytest.mark.parametrize("read_only", [False, True])
def test_a_newer_ledger_names_the_jobmagic_it_needs_and_is_left_alone(
    tmp_path: Path, read_only: bool
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        _ = ledger.record_attempt(host="h", target="train")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute(
        "INSERT INTO schema_versions (version, jobmagic, applied_at) VALUES (?, '9.4.0', 'x')",
        (SCHEMA_VERSION + 1,),
    )
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    before = digest(path)
    with pytest.raises(LedgerError) as caught:
        Ledger(path, read_only=read_only)
    error = caught.value
    assert error.reason is LedgerReason.NEWER_SCHEMA
    assert f"jobmagic 9.4.0 (ledger schema {SCHEMA_VERSION + 1})" in str(error)
    assert f"this jobmagic {__version__} reads schema {SCHEMA_VERSION}" in str(error)
    assert error.hint is not None and "Upgrade jobmagic to 9.4.0 or later" in error.hint
    assert digest(path) == before
    assert list(tmp_path.glob("*.damaged-*")) == []


def test_a_newer_ledger_that_does_not_say_who_wrote_it_names_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("CREATE TABLE attempts (id INTEGER PRIMARY KEY)")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert caught.value.reason is LedgerReason.NEWER_SCHEMA
    assert caught.value.hint is not None
    assert f"a release that reads ledger schema {SCHEMA_VERSION + 1}" in caught.value.hint


# --- sweeps ----------------------------------------------------------------------------


def test_a_sweep_is_stored_as_given_and_a_taken_name_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        stored = ledger.add_sweep(_sweep())
        assert stored == _sweep()
        other = _sweep(kind="search", objective="accuracy:max", space={"lr": [1]})
        assert ledger.add_sweep(other) == stored
        assert ledger.sweep("lr-scan") == stored and ledger.sweep("nope") is None
    # Another process reads the same sweep; the space is JSON with sorted keys.
    with Ledger(path, read_only=True) as reader:
        assert reader.sweep("lr-scan") == stored
    raw = sqlite3.connect(path)
    try:
        [(space_json,)] = raw.execute("SELECT space_json FROM sweeps").fetchall()
    finally:
        raw.close()
    assert space_json == '{"epochs":3,"lr":[0.1,0.01]}'


def test_a_sweep_that_cannot_be_stored_is_refused(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        with pytest.raises(ValueError, match="kind"):
            ledger.add_sweep(_sweep(kind="cartesian"))
        with pytest.raises(ValueError, match="bearer"):
            ledger.add_sweep(_sweep(space={"header": ["Bearer abc.def"]}))
        with pytest.raises(TypeError):
            ledger.add_sweep(_sweep(space={"lr": object()}))
        assert ledger.sweep_summaries() == []


def test_a_sweeps_attempts_carry_its_name_and_come_back_in_order(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.add_sweep(_sweep())
        ids = [_run(ledger, f"r{i}", RunStatus.RUNNING) for i in range(5)]
        _ = ledger.record_attempt(host="h", target="train")  # in no sweep
        entries = ledger.sweep_entries("lr-scan")
        assert [e.id for e in entries] == ids
        assert {e.sweep for e in entries} == {"lr-scan"}
        assert ledger.count(LedgerQuery(sweep="lr-scan")) == 5
        assert [e.id for e in ledger.page(LedgerQuery(sweep="lr-scan"), size=2)] == ids[:2:-1][:2]
        assert ledger.sweep_entries("nope") == []


def test_summaries_count_runs_by_status_and_rank_by_the_objective(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.add_sweep(_sweep("by-loss", created_at=T0))
        ledger.add_sweep(_sweep("by-acc", objective="accuracy:max", created_at=T0 + timedelta(1)))
        ledger.add_sweep(_sweep("unranked", objective="uptime", created_at=T0 + timedelta(2)))
        ledger.add_sweep(_sweep("no-runs", objective=None, created_at=T0 + timedelta(3)))
        for sweep in ("by-loss", "by-acc", "unranked"):
            _run(ledger, f"{sweep}-1", RunStatus.FINISHED, sweep=sweep)
            _run(ledger, f"{sweep}-2", RunStatus.FAILED, sweep=sweep)
            _run(ledger, f"{sweep}-3", RunStatus.FINISHED, sweep=sweep)
        pending = ledger.record_attempt(host="h", target="t", application_id=APP, sweep="by-loss")
        rejected = ledger.record_attempt(host="h", target="t", sweep="by-loss")
        ledger.record_rejected(rejected, "no such job")
        values = [
            (APP, f"{sweep}-{i}", metric, value, 5)
            for sweep in ("by-loss", "by-acc", "unranked")
            for i, metric, value in (
                (1, "loss", 0.30),
                (1, "accuracy", 0.70),
                (2, "loss", float("nan")),  # logged NaN: nobody's best
                (2, "accuracy", float("inf")),
                (3, "loss", 0.20),
                (3, "accuracy", 0.65),
                (3, "uptime", 12.0),
            )
        ]
        values.append((APP, "a-run-of-no-sweep", "loss", 0.01, 1))
        ledger.set_metrics(values)
        summaries = ledger.sweep_summaries()
        assert pending and [s.record.name for s in summaries] == [
            "no-runs",
            "unranked",
            "by-acc",
            "by-loss",
        ]
        by_name = {s.record.name: s for s in summaries}
        assert by_name["by-loss"].counts == {
            "FAILED": 1,
            "FINISHED": 2,
            "PENDING": 1,
            "REJECTED": 1,
        }
        assert by_name["by-loss"].runs == 5 and by_name["by-loss"].best == 0.20
        assert by_name["by-acc"].best == 0.70 and by_name["by-acc"].runs == 3
        assert by_name["unranked"].best is None  # no direction: never guessed
        told = {s.record.name: s.best for s in ledger.sweep_summaries(goals={"uptime": "max"})}
        assert told["unranked"] == 12.0 and told["by-loss"] == 0.20
        assert by_name["no-runs"].counts == {} and by_name["no-runs"].runs == 0
        assert [s.record.name for s in ledger.sweep_summaries(limit=2)] == ["no-runs", "unranked"]


# --- the metric cache ---------------------------------------------------------------------


def test_metrics_are_written_only_when_they_change(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        first = [
            (APP, "r1", "loss", 0.5, 1),
            (APP, "r1", "acc", 0.6, 1),
            (APP, "r2", "loss", 0.4, 1),
        ]
        assert ledger.set_metrics(first) == 3
        assert ledger.set_metrics(first) == 0
        assert ledger.set_metrics([(APP, "r1", "loss", 0.5, 2)]) == 1  # same value, new step
        assert ledger.set_metrics([(APP, "r1", "loss", float("nan"), 3)]) == 1
        assert ledger.set_metrics([(APP, "r1", "loss", float("nan"), 3)]) == 0
        assert ledger.set_metrics([]) == 0
        latest = ledger.latest_metrics([(APP, "r1"), (APP, "r2"), (APP, "r9")])
        assert set(latest) == {(APP, "r1"), (APP, "r2")}
        assert math.isnan(latest[(APP, "r1")]["loss"]) and latest[(APP, "r1")]["acc"] == 0.6
        assert latest[(APP, "r2")] == {"loss": 0.4}
        with pytest.raises(ValueError, match="run name"):
            ledger.set_metrics([(APP, "", "loss", 1.0, None)])


def test_many_runs_metrics_come_back_whatever_their_number(tmp_path: Path) -> None:
    keys = [(APP, f"r{i}") for i in range(1234)]
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        assert (
            ledger.set_metrics((app, run, "loss", float(i), i) for i, (app, run) in enumerate(keys))
            == 1234
        )
        latest = ledger.latest_metrics(keys)
        assert len(latest) == 1234 and latest[(APP, "r1000")] == {"loss": 1000.0}
        ledger.add_sweep(_sweep())
        _run(ledger, "r7", RunStatus.FINISHED)
        assert ledger.sweep_metrics("lr-scan") == {(APP, "r7"): {"loss": 7.0}}


def test_a_reader_reads_the_cache_and_cannot_write_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.set_metrics([(APP, "r1", "loss", 0.5, 1)])
    with Ledger(path, read_only=True) as reader:
        assert reader.latest_metrics([(APP, "r1")]) == {(APP, "r1"): {"loss": 0.5}}
        with pytest.raises(LedgerError) as caught:
            reader.set_metrics([(APP, "r1", "loss", 0.4, 2)])
        assert caught.value.reason is LedgerReason.READ_ONLY


# --- copies: import, recovery, damage ------------------------------------------------------


def test_every_field_of_an_entry_survives_import(tmp_path: Path) -> None:
    """Each column lands in its own field (entries are read by position)."""
    run = JobRun(name="r-1", status=RunStatus.FAILED, application_id=APP)
    texts = {f.name: f"{f.name}-value" for f in fields(LedgerEntry) if f.type == "str | None"}
    texts["run_name"] = "r-1"
    texts["application_id"] = APP
    entry = LedgerEntry(
        id=0,
        state=AttemptState.ACKNOWLEDGED,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=1),
        params={"lr": "0.1"},
        run=run,
        candidates=("a", "b"),
        **texts,
    )
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.import_entries([entry]) == 1
        [back] = ledger.entries()
    assert replace(back, id=0, run=None) == replace(entry, run=None)
    assert back.sweep == "sweep-value" and back.status is RunStatus.FAILED


def test_recovery_brings_back_the_sweeps_and_their_runs(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    with Ledger(old) as ledger:
        ledger.add_sweep(_sweep())
        _run(ledger, "r1", RunStatus.FINISHED)
        _run(ledger, "r2", RunStatus.FAILED)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.add_sweep(_sweep("here-already", created_at=T0 + timedelta(days=1)))
        summary = ledger.recover(old)
        assert summary.recovered == 2
        assert ledger.sweep("lr-scan") == _sweep()
        assert [e.run_name for e in ledger.sweep_entries("lr-scan")] == ["r1", "r2"]
        assert [s.record.name for s in ledger.sweep_summaries()] == ["here-already", "lr-scan"]


def test_a_reader_of_a_damaged_sweep_reports_it_and_moves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.add_sweep(_sweep())
        ledger.import_entries(
            LedgerEntry(
                id=0,
                state=AttemptState.PENDING,
                created_at=T0 + timedelta(seconds=i),
                updated_at=T0,
                params={"padding": "x" * 300},
                sweep="lr-scan",
            )
            for i in range(400)
        )
    pages = table_pages(path)
    overwrite_page(path, pages[len(pages) // 2])
    before = digest(path)
    with pytest.raises(LedgerError) as caught, Ledger(path, read_only=True) as reader:
        reader.sweep_entries("lr-scan")
    assert caught.value.reason is LedgerReason.DAMAGED
    assert digest(path) == before
    assert [p for p in tmp_path.iterdir() if ".damaged-" in p.name] == []
    assert {p.name for p in tmp_path.iterdir()} <= {path.name, *(path.name + s for s in COMPANIONS)}


# --- the notebook a run came from -----------------------------------------------------------


def test_a_session_records_the_notebook_jupyter_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobmagic.domain.session import JobSession

    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/work/scan.ipynb")
    assert JobSession().notebook == "/home/me/work/scan.ipynb"
    monkeypatch.delenv("JPY_SESSION_NAME")  # nbclient, papermill, VS Code
    assert JobSession().notebook is None
    assert JobSession(notebook="given.ipynb").notebook == "given.ipynb"
