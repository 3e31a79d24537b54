"""Unknown trigger outcomes settled against the server, never by sending again.

The rules (pure, in ``jobmagic.domain.reconcile``) first, then over a real sandbox: every fault that
leaves a trigger unknown, a sweep, ``%%trigger_job --wait``, ``%job_runs --reconcile`` and an
attempt left pending by a killed kernel — counting the triggers the server received.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell

import jobmagic
from jobmagic.api import TriggerOutcomeUnknown
from jobmagic.domain import engine
from jobmagic.domain.reconcile import attempt_window, expected_command, match_attempts
from jobmagic.domain.session import JobSession
from jobmagic.domain.target import Target
from jobmagic.ledger import AttemptState, LedgerEntry
from jobmagic.models import Application, JobRun, ParamSpec
from jobmagic.sandbox import Fault, SandboxServer
from tests.sessions import sandbox_serving, session_on, shell_on

SENT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
APP = Application(
    id="app-1",
    name="train",
    command="python train.py --lr {{lr}} --epochs {{epochs}}",
    params=(ParamSpec("lr"), ParamSpec("epochs", default="3")),
)
SKEW = timedelta(milliseconds=500)


def attempt(
    id: int = 1,
    *,
    state: AttemptState = AttemptState.UNKNOWN,
    params: dict[str, str] | None = None,
    command: str | None = None,
    sent: datetime = SENT,
    lost_after: timedelta = timedelta(seconds=2),
) -> LedgerEntry:
    return LedgerEntry(
        id=id,
        state=state,
        created_at=sent,
        updated_at=sent + lost_after,
        params=params if params is not None else {"lr": "0.1"},
        command=command,
    )


def run(name: str, command: str, at: datetime = SENT + timedelta(seconds=1)) -> JobRun:
    return JobRun(name=name, command=command, created_at=at)


LR01 = "python train.py --lr 0.1 --epochs 3"
LATER = SENT + timedelta(minutes=10)


# --- the rules --------------------------------------------------------------------------


def test_the_template_is_filled_with_params_over_defaults() -> None:
    assert expected_command(attempt(), APP) == LR01
    assert expected_command(attempt(params={"lr": "1", "epochs": "9"}), APP).endswith("--epochs 9")
    assert expected_command(attempt(command="echo override"), APP) == "echo override"
    assert expected_command(attempt(), None) is None


def test_one_matching_run_is_the_attempts() -> None:
    runs = [run("a", LR01), run("b", "python train.py --lr 0.2 --epochs 3")]
    (verdict,) = match_attempts([attempt()], runs, APP, now=LATER)
    assert verdict.state is AttemptState.ACKNOWLEDGED and verdict.run_name == "a"


def test_a_run_outside_the_window_or_owned_by_another_attempt_is_no_candidate() -> None:
    too_early = run("early", LR01, at=SENT - timedelta(seconds=30))
    too_late = run("late", LR01, at=SENT + timedelta(minutes=5))
    owned = run("owned", LR01)
    (verdict,) = match_attempts(
        [attempt()], [too_early, too_late, owned], APP, now=LATER, taken={"owned"}
    )
    assert verdict.state is AttemptState.NOT_CREATED
    assert "safe to trigger again" in verdict.reason


def test_no_match_while_the_window_is_open_decides_nothing() -> None:
    (verdict,) = match_attempts([attempt()], [], APP, now=SENT + timedelta(seconds=1))
    assert verdict.state is AttemptState.UNKNOWN and not verdict.decided


def test_several_matches_are_ambiguous_and_named() -> None:
    runs = [run("b", LR01), run("a", LR01)]
    (verdict,) = match_attempts([attempt()], runs, APP, now=LATER)
    assert verdict.state is AttemptState.AMBIGUOUS and verdict.candidates == ("a", "b")


def test_a_run_given_to_one_attempt_is_not_given_to_the_next() -> None:
    first = attempt(1, params={"lr": "0.1"})
    second = attempt(2, params={"lr": "0.1"}, sent=SENT + timedelta(seconds=3))
    runs = [run("a", LR01, at=SENT + timedelta(seconds=1))]
    verdicts = match_attempts([second, first], runs, APP, now=LATER)
    assert [(v.attempt_id, v.state.value) for v in verdicts] == [
        (1, "acknowledged"),
        (2, "not-created"),
    ]


def test_a_pending_attempt_had_at_most_the_request_time_in_flight() -> None:
    pending = attempt(state=AttemptState.PENDING, lost_after=timedelta(0))
    start, end = attempt_window(pending, skew=SKEW)
    assert start == SENT - SKEW and end > SENT + timedelta(seconds=60)
    _, unknown_end = attempt_window(attempt(), skew=SKEW)
    assert unknown_end == SENT + timedelta(seconds=2) + SKEW


def test_a_manifest_without_a_command_decides_nothing() -> None:
    bare = Application(id="app-1", name="train")
    (verdict,) = match_attempts([attempt()], [run("a", LR01)], bare, now=LATER)
    assert not verdict.decided and "no command template" in verdict.reason


# --- over a real sandbox ----------------------------------------------------------------

JOBS = """
cluster: test
workspace: recon
jobs:
  - name: noop
    command: "true --lr={{lr}} --epochs={{epochs}}"
    params:
      - name: lr
      - name: epochs
        default: "3"
"""
FQN = "test:recon:noop"
APP_ID = "app-test-recon-noop"


@pytest.fixture
def server(tmp_path: Path, isolated_home: Path) -> Iterator[SandboxServer]:
    with sandbox_serving(JOBS, tmp_path) as sandbox:
        yield sandbox


@pytest.fixture
def session(server: SandboxServer, tmp_path: Path) -> Iterator[JobSession]:
    with session_on(server, tmp_path / "ledger.sqlite3") as live:
        yield live


def lose_one_answer(server: SandboxServer, session: JobSession, fault: Fault, lr: str) -> int:
    server.set_faults(fault)
    with pytest.raises(TriggerOutcomeUnknown):
        engine.trigger(session, Target(app=FQN), {"lr": lr})
    (entry,) = [e for e in session.ledger.entries() if e.params.get("lr") == lr]
    assert entry.state is AttemptState.UNKNOWN
    return entry.id


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        (Fault.status(500, "trigger", after=True), AttemptState.ACKNOWLEDGED),
        (Fault.status(503, "trigger"), AttemptState.NOT_CREATED),
        (Fault.drop("trigger", after=True), AttemptState.ACKNOWLEDGED),
        (Fault.drop("trigger"), AttemptState.NOT_CREATED),
        (Fault.malformed("trigger"), AttemptState.ACKNOWLEDGED),
        (Fault.replace_body("{}", "trigger"), AttemptState.ACKNOWLEDGED),
    ],
    ids=["500 after", "503 before", "drop after", "drop before", "malformed", "200 {}"],
)
def test_each_unknown_outcome_is_settled_by_what_the_server_has(
    fault: Fault, state: AttemptState, server: SandboxServer, session: JobSession
) -> None:
    # Another run with other params in the same moment must not be taken for it.
    engine.trigger(session, Target(app=FQN), {"lr": "other"})
    attempt_id = lose_one_answer(server, session, fault, "0.5")
    triggers = server.stats()["trigger"]

    (verdict,) = session.reconcile([attempt_id], wait=True, poll=0.1, skew=SKEW)

    assert verdict.state is state
    entry = session.ledger.get(attempt_id)
    assert entry.state is state
    runs = {r["name"]: r for r in server.runs(APP_ID)}
    if state is AttemptState.ACKNOWLEDGED:
        assert entry.run_name in runs and runs[entry.run_name]["command"].endswith(
            "--lr=0.5 --epochs=3"
        )
        assert entry.error_type == "reconciled"
    else:
        assert not any(r["command"].endswith("--lr=0.5 --epochs=3") for r in runs.values())
    assert server.stats()["trigger"] == triggers  # reconciling sent no trigger


def test_two_lost_answers_with_the_same_params_are_ambiguous(
    server: SandboxServer, session: JobSession
) -> None:
    first = lose_one_answer(server, session, Fault.drop("trigger", after=True), "0.7")
    server.set_faults(Fault.drop("trigger", after=True))
    with pytest.raises(TriggerOutcomeUnknown):
        engine.trigger(session, Target(app=FQN), {"lr": "0.7"})
    verdicts = session.reconcile(wait=True, poll=0.1, skew=timedelta(seconds=30))
    assert {v.state for v in verdicts} == {AttemptState.AMBIGUOUS}
    entry = session.ledger.get(first)
    assert entry.state is AttemptState.AMBIGUOUS and len(entry.candidates) == 2
    assert set(entry.candidates) == {r["name"] for r in server.runs(APP_ID)}


def test_a_sweep_settles_its_unknown_outcomes(server: SandboxServer, session: JobSession) -> None:
    server.set_faults(
        Fault.status(500, "trigger", after=True, times=2), Fault.status(503, "trigger")
    )
    result = jobmagic.sweep(
        FQN, runs=[{"lr": str(i)} for i in range(6)], concurrency=1, session=session
    )
    assert server.stats()["trigger"] == 6
    assert len(result.handles) == 5  # the two answered 500 after the run was made: found
    (failure,) = result.failures
    assert failure.verdict is not None and failure.verdict.state is AttemptState.NOT_CREATED
    assert "safe to trigger again" in result.summary()
    states = sorted(e.state.value for e in session.ledger.entries())
    assert states == ["acknowledged"] * 5 + ["not-created"]
    assert {h.params["lr"] for h in result.handles} == {"0", "1", "2", "3", "4", "5"} - {
        failure.params["lr"]
    }


@pytest.fixture
def shell(
    server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(server, tmp_path / "l.db", monkeypatch) as live:
        yield live


def test_wait_finds_the_run_whose_answer_was_lost(
    server: SandboxServer, shell: InteractiveShell
) -> None:
    server.set_faults(Fault.drop("trigger", after=True))
    shell.run_cell_magic("trigger_job", f"{FQN} --wait -q -o run", "lr: 0.9\n")
    handle = shell.user_ns["run"]
    assert handle.status == "FINISHED" and handle.params == {"lr": "0.9"}
    assert server.stats()["trigger"] == 1
    assert [r["name"] for r in server.runs(APP_ID)] == [handle.name]


def test_job_runs_reconcile_settles_an_attempt_a_killed_kernel_left_pending(
    server: SandboxServer, shell: InteractiveShell, tmp_path: Path, capsys: Any
) -> None:
    from jobmagic.ledger import Ledger

    # A kernel wrote its attempt, sent the trigger, and died before the answer was stored.
    with Ledger(tmp_path / "l.db") as ledger:
        sent_id = ledger.record_attempt(
            host=server.host, target=FQN, application_id=APP_ID, params={"lr": "0.3"}
        )
        never_sent = ledger.record_attempt(
            host=server.host, target=FQN, application_id=APP_ID, params={"lr": "0.4"}
        )
    with httpx.Client(base_url=server.api_url, trust_env=False) as raw:
        answer = raw.post(
            "/jobs/trigger",
            json={"applicationId": APP_ID, "input": {"params": {"lr": "0.3"}}},
            headers={"Authorization": f"Bearer {server.token}"},
        )
    name = answer.json()["jobRunName"]
    # The second one was written a long time ago (its request can no longer be in flight).
    with sqlite3.connect(tmp_path / "l.db") as raw_db:
        raw_db.execute(
            "UPDATE attempts SET created_at = '2025-01-01T00:00:00.000000Z' WHERE id = ?",
            (never_sent,),
        )
    triggers = server.stats()["trigger"]
    shell.run_line_magic("job_runs", "--all")  # the board: runs only, and a line for the rest
    assert "2 pending (sent, never answered: --reconcile" in capsys.readouterr().out

    frame = shell.run_line_magic("job_runs", "--all --reconcile --table -o df")
    printed = capsys.readouterr().out
    assert "Reconciled 2 attempt(s)" in printed and "1 acknowledged" in printed
    assert "1 not-created" in printed
    df = shell.user_ns["df"]
    assert frame is not None
    by_lr = {row["params.lr"]: row for _, row in df.iterrows()}
    assert by_lr["0.3"]["name"] == name
    assert by_lr["0.4"]["status"] == "NOT-CREATED"
    with Ledger(tmp_path / "l.db") as ledger:
        assert ledger.get(sent_id).state is AttemptState.ACKNOWLEDGED
        assert ledger.get(never_sent).state is AttemptState.NOT_CREATED
    assert server.stats()["trigger"] == triggers
    shell.run_line_magic("job_runs", "--all")
    assert "1 not created (no run was made: safe to trigger again)" in capsys.readouterr().out
