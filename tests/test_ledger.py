"""The run ledger: durable, concurrent, and never a place for a token."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobmagic import errors
from jobmagic.errors import TriggerOutcomeUnknown, ValidationError
from jobmagic.ledger import (
    SCHEMA_VERSION,
    AttemptState,
    Ledger,
    LedgerEntry,
    LedgerError,
    LedgerQuery,
)
from jobmagic.ledger import _errors as ledger_errors
from jobmagic.ledger._schema import MIGRATIONS, migrate
from jobmagic.models import JobRun, RunStatus, Subject

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real home: HOME and JOBMAGIC_HOME point into tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JOBMAGIC_HOME", str(tmp_path / "jobmagic-home"))
    return tmp_path / "jobmagic-home"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _attempt(ledger: Ledger, **overrides: object) -> int:
    fields: dict[str, object] = dict(
        host="http://127.0.0.1:8000",
        target="my-cluster:my-ws:train",
        application_id="app-1",
        deployment_id="dep-1",
        application_fqn="my-cluster:my-ws:train",
        params={"lr": "0.10", "epochs": "3"},
        command=None,
        alias="first",
        session_id="session-a",
        notebook="exp.ipynb",
        kernel_id="kernel-1",
    )
    fields.update(overrides)
    return ledger.record_attempt(**fields)  # type: ignore[arg-type]


def _run(name: str, status: str = "RUNNING", **extra: object) -> JobRun:
    return JobRun.from_api(
        {"name": name, "status": status, "applicationId": "app-1", "createdAt": 1_700_000_000_000}
        | extra
    )


# --- the file ------------------------------------------------------------------------


def test_default_path_is_under_jobmagic_home_with_wal_and_schema(home: Path) -> None:
    with Ledger() as ledger:
        assert ledger.path == home / "ledger.sqlite3"
        assert ledger.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert ledger.journal_mode == "wal"
    assert stat.S_IMODE(os.stat(home / "ledger.sqlite3").st_mode) == 0o600
    raw = sqlite3.connect(home / "ledger.sqlite3")
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_reopening_applies_no_migration_twice_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        attempt = _attempt(ledger)
    for _ in range(3):
        with Ledger(path) as ledger:
            assert ledger.schema_version == SCHEMA_VERSION
            assert [e.id for e in ledger.entries()] == [attempt]


def test_an_old_file_is_migrated_forward_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    assert migrate(raw, MIGRATIONS[:1]) == 1
    raw.execute(
        "INSERT INTO attempts (state, created_at, updated_at, target, params_json) "
        "VALUES ('pending', '2024-01-01T00:00:00.000000Z', '2024-01-01T00:00:00.000000Z', "
        "'train', '{\"lr\": \"1\"}')"
    )
    raw.close()
    with Ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        (entry,) = ledger.entries()
        assert entry.target == "train" and dict(entry.params) == {"lr": "1"}
        assert entry.created_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    raw = sqlite3.connect(path)
    indexes = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    raw.close()
    assert {"attempts_by_run", "attempts_by_session", "attempts_by_created"} <= indexes


def test_a_file_from_a_newer_jobmagic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    Ledger(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(LedgerError, match="newer jobmagic"):
        Ledger(path)


def test_closed_ledger_and_unknown_attempts_raise(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no attempt 42"):
        ledger.record_acknowledged(42, _run("x"))
    with pytest.raises(LedgerError, match="no attempt 42"):
        ledger.get(42)
    ledger.close()
    ledger.close()  # idempotent
    assert ledger.closed
    with pytest.raises(LedgerError, match="closed"):
        ledger.entries()


def test_a_ledger_error_is_one_class_under_every_name(tmp_path: Path) -> None:
    """LedgerError lives in jobmagic.errors with every other error, so ``except
    JobmagicError`` catches it; the ledger's older import paths name the same classes."""
    assert LedgerError is ledger_errors.LedgerError is errors.LedgerError
    assert ledger_errors.LedgerReason is errors.LedgerReason
    with pytest.raises(errors.JobmagicError) as caught:
        Ledger(tmp_path / "nowhere.sqlite3", read_only=True)
    assert isinstance(caught.value, LedgerError)
    assert caught.value.reason is errors.LedgerReason.MISSING
    assert caught.value.hint and str(caught.value).endswith(caught.value.hint)


# --- the lifecycle of an attempt -------------------------------------------------------


def test_attempt_is_committed_before_the_request_is_sent(ledger: Ledger) -> None:
    attempt = _attempt(ledger)
    # Another connection (another process, after a crash) already sees it.
    with Ledger(ledger.path) as other:
        (entry,) = other.entries()
    assert entry.id == attempt
    assert entry.state is AttemptState.PENDING
    assert entry.run is None and entry.run_name is None and entry.status is None
    assert dict(entry.params) == {"lr": "0.10", "epochs": "3"}
    assert (entry.host, entry.target, entry.alias) == (
        "http://127.0.0.1:8000",
        "my-cluster:my-ws:train",
        "first",
    )
    assert (entry.session_id, entry.notebook, entry.kernel_id) == (
        "session-a",
        "exp.ipynb",
        "kernel-1",
    )
    assert abs(entry.created_at - datetime.now(timezone.utc)) < timedelta(seconds=30)


def test_acknowledged_stores_the_raw_api_json(ledger: Ledger) -> None:
    attempt = _attempt(ledger, application_id=None, deployment_id=None)
    raw = {
        "name": "train-x1",
        "status": "RUNNING",
        "applicationId": "app-9",
        "deploymentId": "dep-9",
        "createdAt": 1_700_000_000_123,
        "sparkUi": "http://spark",  # a field JobRun does not model
    }
    run = JobRun.from_api(raw)
    ledger.record_acknowledged(attempt, run, raw)
    entry = ledger.get(attempt)
    assert entry.state is AttemptState.ACKNOWLEDGED
    assert entry.run_name == "train-x1"
    assert entry.run == run
    assert entry.status is RunStatus.RUNNING
    # The ids the attempt did not know come from the run.
    assert (entry.application_id, entry.deployment_id) == ("app-9", "dep-9")
    stored = sqlite3.connect(ledger.path).execute("SELECT run_json FROM attempts").fetchone()[0]
    assert '"sparkUi":"http://spark"' in stored


def test_acknowledged_without_raw_round_trips_every_field(ledger: Ledger) -> None:
    run = JobRun(
        name="train-x2",
        status=RunStatus("PAUSED"),
        application_name="train",
        id="r-1",
        application_id="app-1",
        deployment_id="dep-1",
        deployment_version="4",
        created_at=datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc),
        end_time=datetime(2024, 5, 1, 12, 5, 0, tzinfo=timezone.utc),
        duration=299.877,
        command="python train.py",
        total_retries=2,
        error="boom",
        exit_code=137,
        triggered_by="u-1",
        triggered_by_subject=Subject("u-1", "user", "ada", "Ada"),
        external_id="ext",
        tenant_name="acme",
    )
    assert JobRun.from_api(run.to_api()) == run
    attempt = _attempt(ledger)
    ledger.record_acknowledged(attempt, run)
    assert ledger.get(attempt).run == run


def test_rejected_and_unknown_keep_the_error(ledger: Ledger) -> None:
    rejected = _attempt(ledger)
    unknown = _attempt(ledger)
    error = ValidationError("lr must be a number", status_code=422)
    ledger.record_rejected(rejected, error)
    ledger.record_unknown(unknown, TriggerOutcomeUnknown("connection dropped after sending"))
    by_id = {e.id: e for e in ledger.entries()}
    assert by_id[rejected].state is AttemptState.REJECTED
    assert (by_id[rejected].error_type, by_id[rejected].error) == (
        "ValidationError",
        "lr must be a number",
    )
    assert by_id[unknown].state is AttemptState.UNKNOWN
    assert by_id[unknown].error_type == "TriggerOutcomeUnknown"
    assert by_id[rejected].run is None


# --- secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"params": {"token": "Bearer tfy_secret_123"}},
        {"command": "  bearer tfy_secret_123"},
        {"host": "Bearer tfy_secret_123"},
        {"alias": "BEARER tfy_secret_123"},
    ],
)
def test_refuses_to_store_a_bearer_token(ledger: Ledger, overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="bearer token") as caught:
        _attempt(ledger, **overrides)
    assert "tfy_secret_123" not in str(caught.value)
    assert ledger.entries() == []


def test_no_token_reaches_the_file(ledger: Ledger) -> None:
    first = _attempt(ledger)
    ledger.record_rejected(first, RuntimeError("sent Authorization: Bearer tfy_secret_456"))
    second = _attempt(ledger)
    ledger.record_acknowledged(
        second, _run("r2"), {"name": "r2", "echo": "Bearer tfy_secret_456", "status": "RUNNING"}
    )
    assert ledger.get(first).error == "sent Authorization: Bearer …"
    ledger.close()
    for path in ledger.path.parent.glob("ledger.sqlite3*"):
        assert b"tfy_secret_456" not in path.read_bytes(), path.name


# --- refresh and queries ------------------------------------------------------------------


def test_update_runs_refreshes_by_application_and_name(ledger: Ledger) -> None:
    attempt = _attempt(ledger)
    raw = {"name": "r1", "status": "RUNNING", "applicationId": "app-1", "sparkUi": "keep-me"}
    ledger.record_acknowledged(attempt, JobRun.from_api(raw), raw)
    other = _attempt(ledger, application_id="app-2")
    ledger.record_acknowledged(other, _run("r1", applicationId="app-2"))

    finished = _run("r1", "FINISHED", exitCode=0, endTime=1_700_000_060_000)
    assert ledger.update_runs([("app-1", finished), ("app-1", _run("not-ours"))]) == 1
    entry = ledger.get(attempt)
    assert entry.run is not None and entry.run.status is RunStatus.FINISHED
    assert entry.run.exit_code == 0
    assert entry.state is AttemptState.ACKNOWLEDGED
    assert ledger.get(other).status is RunStatus.RUNNING  # another app's run of that name
    stored = sqlite3.connect(ledger.path).execute(
        "SELECT run_json FROM attempts WHERE id = ?", (attempt,)
    )
    assert "keep-me" in stored.fetchone()[0]
    # The same again changes nothing (and writes nothing).
    assert ledger.update_runs([("app-1", finished)]) == 0
    # A bare JobRun with its application id works too.
    assert ledger.update_runs([_run("r1", "FAILED", applicationId="app-2")]) == 1
    assert ledger.get(other).status is RunStatus.FAILED


def test_update_runs_by_name_alone_only_when_unambiguous(ledger: Ledger) -> None:
    one = _attempt(ledger)
    ledger.record_acknowledged(one, _run("solo"))
    two, three = _attempt(ledger), _attempt(ledger, application_id="app-2")
    ledger.record_acknowledged(two, _run("shared"))
    ledger.record_acknowledged(three, _run("shared", applicationId="app-2"))
    bare = [JobRun(name="solo", status=RunStatus.FINISHED), JobRun(name="shared")]
    assert ledger.update_runs(bare) == 1
    assert ledger.get(one).status is RunStatus.FINISHED
    assert ledger.get(two).status is RunStatus.RUNNING


def test_entries_filters_and_orders_newest_first(ledger: Ledger) -> None:
    a = _attempt(ledger, session_id="s1")
    b = _attempt(ledger, session_id="s2", application_id="app-2")
    c = _attempt(ledger, session_id="s1")
    ledger.record_acknowledged(a, _run("ra", "FINISHED"))
    ledger.record_acknowledged(b, _run("rb", "RUNNING"))
    ledger.record_rejected(c, ValueError("no"))

    assert [e.id for e in ledger.entries()] == [c, b, a]
    assert [e.id for e in ledger.entries(session_id="s1")] == [c, a]
    assert [e.id for e in ledger.entries(application_id="app-2")] == [b]
    assert [e.id for e in ledger.entries(statuses=[RunStatus.FINISHED, "RUNNING"])] == [b, a]
    assert [e.id for e in ledger.entries(statuses="RUNNING")] == [b]
    assert [e.id for e in ledger.entries(states=[AttemptState.REJECTED])] == [c]
    assert ledger.entries(statuses=[]) == []
    assert [e.id for e in ledger.entries(limit=2)] == [c, b]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert ledger.entries(since=future) == []
    assert len(ledger.entries(since=datetime.now(timezone.utc) - timedelta(hours=1))) == 3
    assert all(isinstance(e, LedgerEntry) for e in ledger.entries())


# --- concurrency and crashes ------------------------------------------------------------------


def test_one_ledger_shared_by_threads(ledger: Ledger) -> None:
    errors: list[BaseException] = []
    written: list[int] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        try:
            for i in range(40):
                attempt = _attempt(ledger, kernel_id=f"t{worker}")
                ledger.record_acknowledged(attempt, _run(f"t{worker}-{i}"))
                written.append(attempt)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                ledger.entries(limit=20)
                ledger.update_runs([("app-1", _run("t0-0", "FINISHED"))])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()
    assert errors == []
    entries = ledger.entries()
    assert len(entries) == len(set(written)) == 320
    assert all(e.state is AttemptState.ACKNOWLEDGED for e in entries)


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from jobmagic.ledger import Ledger
    from jobmagic.models import JobRun, RunStatus

    path, who, go, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    with Ledger(path) as ledger:
        Path(f"{go}.{who}.ready").touch()
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        started = time.monotonic()
        for i in range(count):
            attempt = ledger.record_attempt(
                host="h", target="train", application_id="app-1", kernel_id=who,
                params={"i": str(i)},
            )
            run = JobRun(name=f"{who}-{i}", status=RunStatus.RUNNING, application_id="app-1")
            ledger.record_acknowledged(attempt, run)
        print(started, time.monotonic())
    """
)


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    go = tmp_path / "go"
    Ledger(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), who, str(go), "200"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("kernel-a", "kernel-b")
    ]
    # Both must have the ledger open and be waiting before either starts: on a loaded
    # machine one interpreter can take seconds to start.
    ready = [Path(f"{go}.{who}.ready") for who in ("kernel-a", "kernel-b")]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready):
        assert all(proc.poll() is None for proc in procs), "a writer died before starting"
        assert time.monotonic() < deadline, "the writers did not start"
        time.sleep(0.01)
    go.touch()
    windows = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "locked" not in err
        windows.append([float(t) for t in out.split()])
    # They really wrote at the same time: each began before the other was done.
    assert max(w[0] for w in windows) < min(w[1] for w in windows)
    with Ledger(path) as ledger:
        entries = ledger.entries()
    assert len(entries) == 400
    for who in ("kernel-a", "kernel-b"):
        mine = [e for e in entries if e.kernel_id == who]
        assert sorted(e.run_name or "" for e in mine) == sorted(f"{who}-{i}" for i in range(200))
        assert all(e.state is AttemptState.ACKNOWLEDGED for e in mine)


_KILLED = textwrap.dedent(
    """
    import sys
    from jobmagic.ledger import Ledger
    from jobmagic.models import JobRun, RunStatus

    ledger = Ledger(sys.argv[1])
    for i in range(100_000):
        attempt = ledger.record_attempt(host="h", target="train", application_id="app-1",
                                        params={"i": str(i)})
        ledger.record_acknowledged(attempt, JobRun(name=f"run-{i}", status=RunStatus.RUNNING))
        # Tell the parent only once record_acknowledged has returned.
        sys.stdout.write(f"{attempt} run-{i}\\n")
        sys.stdout.flush()
    """
)


def _killed_after(code: str, path: Path, *, lines: int) -> dict[int, str]:
    """Run ``code`` (writing the ledger at ``path``, a line ``<attempt id> <value>`` per
    write it made) and SIGKILL it once it has reported ``lines`` writes; what it reported."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported: dict[int, str] = {}
    try:
        assert proc.stdout is not None
        while len(reported) < lines:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "child exited"
            number, value = line.split()
            reported[int(number)] = value
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None
    assert proc.returncode == -signal.SIGKILL
    return reported


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_right_after_acknowledged_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite3"
    reported = _killed_after(_KILLED, path, lines=30)
    with Ledger(path) as ledger:
        for attempt, name in reported.items():
            entry = ledger.get(attempt)
            assert entry.state is AttemptState.ACKNOWLEDGED
            assert entry.run_name == name and entry.run is not None


def test_a_commit_is_flushed_to_the_disk_only_when_asked(tmp_path: Path) -> None:
    """WAL + synchronous=NORMAL by default (a commit outlives the process, as the test above
    shows); FULL with fsync=True, which also outlives a power cut."""
    with (
        Ledger(tmp_path / "a.sqlite3") as default,
        Ledger(tmp_path / "b.sqlite3", fsync=True) as full,
    ):
        levels = [
            ledger._connection().execute("PRAGMA synchronous").fetchone()[0]
            for ledger in (default, full)
        ]
    assert levels == [1, 2]  # NORMAL, FULL


def test_a_read_under_way_does_not_hold_up_a_write(ledger: Ledger) -> None:
    """Reads have a connection of their own: a board counting a large ledger must not stop
    a sweep's commits (nor they the count) for as long as it runs."""
    attempt = _attempt(ledger)
    written = threading.Event()

    def acknowledge() -> None:
        ledger.record_acknowledged(attempt, _run("while-reading"))
        written.set()

    with ledger._reading() as conn:  # a read in progress, as long as this block lasts
        conn.execute("SELECT COUNT(*) FROM attempts").fetchone()
        writer = threading.Thread(target=acknowledge)
        writer.start()
        assert written.wait(10), "the write waited for the read"
    writer.join(10)
    assert ledger.get(attempt).run_name == "while-reading"


def test_an_acknowledgement_left_for_later_is_seen_by_every_read(ledger: Ledger) -> None:
    other = Ledger(ledger.path)  # another connection: sees committed rows only
    try:
        attempt = _attempt(ledger)
        ledger.record_acknowledged(attempt, _run("later-1"), wait=False)
        # This connection's reads see it at once, whatever the writer thread has done.
        entry = ledger.get(attempt)
        assert (entry.state, entry.run_name) == (AttemptState.ACKNOWLEDGED, "later-1")
        assert other.get(attempt).state is AttemptState.ACKNOWLEDGED

        # With no read, the writer thread writes it a moment later.
        second = _attempt(ledger)
        ledger.record_acknowledged(second, _run("later-2"), wait=False)
        deadline = time.monotonic() + 10
        while other.get(second).state is not AttemptState.ACKNOWLEDGED:
            assert time.monotonic() < deadline, "the acknowledgement was never written"
            time.sleep(0.01)
        assert other.get(second).run_name == "later-2"

        # A later write about the same attempt comes after it, never before.
        third = _attempt(ledger)
        ledger.record_acknowledged(third, _run("later-3"), wait=False)
        ledger.record_reconciled(third, _run("later-3", status="FINISHED"), "matched")
        assert ledger.get(third).run is not None
        assert ledger.get(third).run.status is RunStatus.FINISHED  # type: ignore[union-attr]
    finally:
        other.close()


def test_closing_writes_the_acknowledgements_left_for_later(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    ledger = Ledger(path)
    attempts = [_attempt(ledger) for _ in range(20)]
    for index, attempt in enumerate(attempts):
        ledger.record_acknowledged(attempt, _run(f"run-{index}"), wait=False)
    ledger.close()
    with Ledger(path) as reopened:
        assert [reopened.get(a).run_name for a in attempts] == [f"run-{i}" for i in range(20)]


_KILLED_LATER = textwrap.dedent(
    """
    import sys
    from jobmagic.ledger import Ledger
    from jobmagic.models import JobRun, RunStatus

    ledger = Ledger(sys.argv[1])
    for i in range(100_000):
        attempt = ledger.record_attempt(host="h", target="train", params={"i": str(i)})
        ledger.record_acknowledged(
            attempt, JobRun(name=f"run-{i}", status=RunStatus.RUNNING), wait=False
        )
        sys.stdout.write(f"{attempt} {i}\\n")
        sys.stdout.flush()
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_before_a_later_acknowledgement_leaves_its_attempt_pending(
    tmp_path: Path,
) -> None:
    """An acknowledgement a kill catches unwritten loses nothing: its attempt is there,
    pending, with its params, which reconcile settles against the server."""
    path = tmp_path / "killed.sqlite3"
    reported = _killed_after(_KILLED_LATER, path, lines=200)
    with Ledger(path) as ledger:
        states = set()
        for attempt, index in reported.items():
            entry = ledger.get(attempt)
            assert entry.params == {"i": index}
            states.add(entry.state)
            if entry.state is AttemptState.ACKNOWLEDGED:
                assert entry.run_name == f"run-{index}"
    assert states <= {AttemptState.ACKNOWLEDGED, AttemptState.PENDING}


def test_a_damaged_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="move it aside"):
        Ledger(path)


def test_a_damaged_row_does_not_hide_the_others(ledger: Ledger) -> None:
    good, bad = _attempt(ledger), _attempt(ledger)
    ledger.record_acknowledged(good, _run("good"))
    ledger.record_acknowledged(bad, _run("bad"))
    raw = sqlite3.connect(ledger.path)
    raw.execute(
        "UPDATE attempts SET run_json = '{cut sho', params_json = '[1]' WHERE id = ?", (bad,)
    )
    raw.commit()
    raw.close()
    by_id = {e.id: e for e in ledger.entries()}
    good_run = by_id[good].run
    assert good_run is not None and good_run.name == "good"
    assert by_id[bad].run is None and by_id[bad].run_name == "bad" and by_id[bad].params == {}


def test_raw_without_a_name_takes_it_from_the_run(ledger: Ledger) -> None:
    # A trigger response's "data" may lack the name; it came as jobRunName.
    attempt = _attempt(ledger)
    raw = {"status": "CREATED", "applicationId": "app-1"}
    ledger.record_acknowledged(attempt, JobRun.from_api({**raw, "name": "train-77"}), raw)
    entry = ledger.get(attempt)
    assert entry.run is not None and entry.run.name == "train-77"
    assert entry.run.status is RunStatus.CREATED


# --- pages and counts (what a paged board and %job_runs read) -------------------------


def _settled(
    i: int, status: RunStatus | None, *, session: str = "s1", app: str = "train"
) -> LedgerEntry:
    created = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=i)
    run = None if status is None else JobRun(name=f"{app}-{i:04d}", status=status)
    return LedgerEntry(
        id=0,
        state=AttemptState.PENDING if run is None else AttemptState.ACKNOWLEDGED,
        created_at=created,
        updated_at=created,
        host="http://h",
        target=f"sandbox:demo:{app}",
        application_id=f"app-{app}",
        application_fqn=f"c:w:{app}",
        run_name=None if run is None else run.name,
        params={"i": str(i)},
        session_id=session,
        run=run,
    )


@pytest.fixture
def big(ledger: Ledger) -> Ledger:
    """230 attempts: 200 of train (cycling FINISHED, FAILED, RUNNING, FINISHED) in session
    s1, 20 of eval in s2, and 10 pending attempts with no run."""
    cycle = [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.RUNNING, RunStatus.FINISHED]
    entries = [_settled(i, cycle[i % 4]) for i in range(200)]
    entries += [_settled(200 + i, RunStatus.FINISHED, session="s2", app="eval") for i in range(20)]
    entries += [_settled(220 + i, None) for i in range(10)]
    assert ledger.import_entries(entries) == 230
    return ledger


def test_pages_are_newest_first_slices_of_every_match(big: Ledger) -> None:
    query = LedgerQuery(with_run=True)
    first = big.page(query, size=50)
    second = big.page(query, offset=50, size=50)
    assert len(first) == len(second) == 50
    assert first[0].run_name == "eval-0219" and first[19].run_name == "eval-0200"
    assert first[20].run_name == "train-0199" and second[0].run_name == "train-0169"
    # Every page together is every match, once, in the order entries() gives.
    pages = [e.id for offset in range(0, 250, 50) for e in big.page(query, offset=offset)]
    assert pages == [e.id for e in big.entries() if e.run is not None]
    assert big.page(query, offset=220, size=50) == []


def test_filters_narrow_pages_and_counts_alike(big: Ledger) -> None:
    assert big.status_counts() == {"FAILED": 50, "FINISHED": 120, "PENDING": 10, "RUNNING": 50}
    assert big.count(LedgerQuery(with_run=False)) == 10
    assert big.status_counts(LedgerQuery(session_id="s2")) == {"FINISHED": 20}
    by_app = LedgerQuery(app="sandbox:demo:eval")  # a target, an FQN or an id all match
    assert big.count(by_app) == big.count(LedgerQuery(app="c:w:eval")) == 20
    assert big.count(LedgerQuery(app="app-eval")) == 20
    failed = LedgerQuery(statuses=("FAILED",))
    assert big.status_counts(failed) == {"FAILED": 50}
    assert {e.status for e in big.page(failed, size=None)} == {RunStatus.FAILED}
    since = LedgerQuery(since=datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc))  # minute 180
    assert big.count(since) == 50
    assert big.count(LedgerQuery(statuses=())) == 0


def test_a_limit_bounds_pages_and_counts_to_the_newest_rows(big: Ledger) -> None:
    query = LedgerQuery(session_id="s1", with_run=True, limit=120)
    assert big.count(query) == 120
    # The newest 120 train runs are 80..199: 30 of each of FAILED and RUNNING, 60 FINISHED.
    assert big.status_counts(query) == {"FAILED": 30, "FINISHED": 60, "RUNNING": 30}
    assert len(big.page(query, offset=100, size=50)) == 20  # not past the limit
    assert big.page(query, offset=120, size=50) == []
    assert [e.run_name for e in big.page(query, size=None)][-1] == "train-0080"


def test_counts_read_only_the_status_index_and_pages_the_time_index(big: Ledger) -> None:
    conn = sqlite3.connect(big.path)
    try:
        where, args = LedgerQuery(with_run=True).where()
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT COALESCE(run_status, UPPER(state)), COUNT(*) "
            f"FROM attempts WHERE {where} GROUP BY 1",
            args,
        ).fetchall()
        assert "COVERING INDEX attempts_by_status" in " ".join(str(row[-1]) for row in plan)
        sql, args = LedgerQuery().select("id", offset=50, size=50)
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
        assert "attempts_by_created" in " ".join(str(row[-1]) for row in plan)
    finally:
        conn.close()


def test_rows_gives_raw_columns_and_refuses_unknown_ones(big: Ledger) -> None:
    rows = big.rows(LedgerQuery(session_id="s2", limit=2), ["run_name", "params_json"])
    assert rows == [("eval-0219", '{"i": "219"}'), ("eval-0218", '{"i": "218"}')]
    with pytest.raises(ValueError, match="no column 'id; DROP'"):
        big.rows(LedgerQuery(), ["id; DROP"])


def test_import_entries_round_trips_and_refuses_a_token(ledger: Ledger) -> None:
    entry = _settled(1, RunStatus.FAILED)
    ledger.import_entries([entry])
    (stored,) = ledger.entries()
    assert (stored.run, stored.params, stored.created_at) == (
        entry.run,
        entry.params,
        entry.created_at,
    )
    with pytest.raises(ValueError, match="bearer token"):
        ledger.import_entries([_settled(2, None), replace(entry, command="Bearer abc")])
    assert len(ledger.entries()) == 1  # all in one transaction: nothing of the refused batch
