"""The server's run history, rerun with changes, and whole-sweep control (issue 15).

Over real parts: the sandbox on loopback, raw httpx for runs started outside jobmagic, a
real InteractiveShell for the magics, and the real widgets (clicked from Python).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jobmagic
from jobmagic.domain import engine
from jobmagic.domain.sweeps import SweepResult
from jobmagic.domain.target import Target
from jobmagic.frames import runs_to_dataframe
from jobmagic.ledger import Ledger
from jobmagic.ledger._schema import MIGRATIONS
from jobmagic.models import JobRun, RunStatus, fill_command
from jobmagic.models.commands import match_command
from jobmagic.sandbox import SandboxServer
from tests.sessions import sandbox_serving, session_on, shell_on
from tests.sessions import until as _until

TRAIN_APP = "app-sandbox-demo-train"
SLEEP_APP = "app-sandbox-demo-sleep"


def _raw_trigger(server: SandboxServer, app_id: str, params: dict[str, str]) -> str:
    """Start a run as someone outside jobmagic would: plain httpx, nothing in any ledger."""
    with httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {server.token}"},
        trust_env=False,
        timeout=10.0,
    ) as client:
        answer = client.post(
            "/jobs/trigger", json={"applicationId": app_id, "input": {"params": params}}
        )
    answer.raise_for_status()
    return str(answer.json()["jobRunName"])


def _template(server: SandboxServer, fqn: str) -> str:
    with jobmagic.JobsClient(server.host, server.token) as client:
        command = client.find_app(fqn).command
    assert command
    return command


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(shared_sandbox, tmp_path / "ledger.db", monkeypatch) as ip:
        yield ip


# --- the template inverse (pure) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "command", "expected"),
    [
        (
            "train.py --lr={{lr}} --epochs={{epochs}}",
            "train.py --lr=0.1 --epochs=3",
            {"lr": "0.1", "epochs": "3"},
        ),
        ("hello --name={{ name }}", "hello --name=Ada Lovelace", {"name": "Ada Lovelace"}),
        ("echo {{x}} and {{x}}", "echo 1 and 1", {"x": "1"}),
        ("echo hi", "echo hi", {}),
        ("run --a={{a}}", "run --a=", {"a": ""}),
        # The value holds the text after its slot, at the end: the last slot runs to the end.
        ("cp {{src}} --to {{dst}}", "cp a --to b --to c", None),
        ("python x.py --tag={{tag}} --n={{n}}", "python x.py --tag=a --n=b --n=2", None),
    ],
)
def test_match_command_gives_params_only_when_exactly_one_split_fits(
    template: str, command: str, expected: dict[str, str] | None
) -> None:
    found = match_command(template, command)
    assert found == expected
    if found is not None:
        assert fill_command(template, found) == command  # it really is the inverse


@pytest.mark.parametrize(
    ("template", "command"),
    [
        ("run {{a}}{{b}}", "run 123"),  # side by side: where does a end?
        ("run {{a}}{{b}}", "run "),  # even when only one split is possible
        ("echo {{a}} {{b}}", "echo x y z"),  # "x"+"y z" or "x y"+"z"
        ("echo {{x}} and {{x}}", "echo 1 and 2"),  # one slot, two values
        ("train --lr={{lr}}", "other --lr=1"),  # not this job's command
        ("train --lr={{lr}} end", "train --lr=1"),  # the tail is missing
        ("echo hi", "echo bye"),
    ],
)
def test_match_command_gives_nothing_when_ambiguous_or_not_this_template(
    template: str, command: str
) -> None:
    assert match_command(template, command) is None


def test_match_command_gives_up_on_a_pathological_command_instead_of_guessing() -> None:
    # Thousands of separators: the search has a step budget, so it ends, and when a split is
    # not proven unique within it no params are guessed.
    from jobmagic.models import commands

    command = "echo " + " ".join(["x"] * 3000)
    assert match_command("echo {{a}} {{b}} {{c}}", command) is None
    # One split only (x is used twice), but finding that takes a few dead ends.
    template, unique = "s {{x}} m {{x}} e", "s 1 m 2 m 1 m 2 e"
    assert match_command(template, unique) == {"x": "1 m 2"}
    budget = commands.STEP_BUDGET
    try:
        commands.STEP_BUDGET = 3
        assert match_command(template, unique) is None
    finally:
        commands.STEP_BUDGET = budget


# --- the ledger's link ---------------------------------------------------------------------


def test_ledger_migration_4_adds_rerun_of_to_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    for statements in MIGRATIONS[:3]:
        for statement in statements:
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 3")
    raw.execute(
        "INSERT INTO attempts (state, created_at, updated_at, target, application_id, run_name) "
        "VALUES ('acknowledged', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', "
        "'train', 'app-1', 'train-old')"
    )
    raw.commit()
    raw.close()
    with Ledger(path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS) >= 4
        (old,) = ledger.entries()
        assert old.rerun_of is None and old.run_name == "train-old"
        again = ledger.record_attempt(
            host="h", target="train", application_id="app-1", rerun_of="train-old"
        )
        ledger.record_acknowledged(again, JobRun(name="train-new", application_id="app-1"))
        assert ledger.get(again).rerun_of == "train-old"
        found = ledger.entries_for_runs("app-1", ["train-new", "train-old", "nope"], host="h")
        assert set(found) == {"train-new", "train-old"}
        assert found["train-new"].rerun_of == "train-old"
        # Another host's attempt with the same application id is not this run.
        assert ledger.entries_for_runs("app-1", ["train-new"], host="elsewhere") == {}


# --- the server's history --------------------------------------------------------------------


def test_a_run_started_outside_jobmagic_is_listed_with_params_read_back(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    name = _raw_trigger(shared_sandbox, TRAIN_APP, {"lr": "0.25", "epochs": "1"})
    # Not in the ledger: the local listing does not know it.
    shell.run_line_magic("job_runs", "--all --stored -o local")
    assert name not in set(shell.user_ns["local"]["name"].dropna())

    board = shell.run_line_magic(
        "job_runs", f"--server --app sandbox:demo:train --search {name} --limit 5 -o df"
    )
    frame = shell.user_ns["df"]
    assert list(frame.columns[: len(runs_to_dataframe([]).columns)]) == list(
        runs_to_dataframe([]).columns
    )
    row = frame[frame["name"] == name].iloc[0]
    assert (row["params.lr"], row["params.epochs"]) == ("0.25", "1")
    assert row["command"].endswith("--lr=0.25 --epochs=1")
    assert row["rerun_of"] is pd.NA
    assert [source.name for source in board.sources] == [name]
    assert dict(board.sources[0].params) == {"lr": "0.25", "epochs": "1"}
    styled = shell.run_line_magic(
        "job_runs", f"--server --app sandbox:demo:train --search {name} --table"
    )
    assert name in styled.to_html()


def test_server_listing_is_newest_first_and_uses_the_servers_filters(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    first = _raw_trigger(shared_sandbox, TRAIN_APP, {"lr": "0.5", "epochs": "1"})
    second = _raw_trigger(shared_sandbox, TRAIN_APP, {"lr": "0.6", "epochs": "1"})
    listed = jobmagic.runs("sandbox:demo:train", limit=1000)
    names = [handle.name for handle in listed]
    assert names.index(second) < names.index(first)
    only = jobmagic.runs("sandbox:demo:train", search=first, since="1h")
    assert [handle.name for handle in only] == [first]
    assert jobmagic.runs("sandbox:demo:train", search=first, version=99) == []
    with pytest.raises(jobmagic.ParamsError, match="since='soon' is neither"):
        jobmagic.runs("sandbox:demo:train", since="soon")
    assert jobmagic.runs("sandbox:demo:train", search=first, triggered_by="someone-else") == []
    (by_me,) = jobmagic.runs("sandbox:demo:train", search=first, triggered_by="sandbox-user")
    assert by_me.name == first and by_me.run.triggered_by == "sandbox-user"
    # The server's own status filter, once the run has ended.
    shared_sandbox.wait_for_run(TRAIN_APP, first, timeout=60)
    (done,) = jobmagic.runs("sandbox:demo:train", search=first, status="FINISHED")
    assert done.name == first
    assert jobmagic.runs("sandbox:demo:train", search=first, status=["RUNNING", "FAILED"]) == []
    shell.run_line_magic(
        "job_runs", f"--server --app sandbox:demo:train --search {first} --status FAILED -o failed"
    )
    assert len(shell.user_ns["failed"]) == 0  # it did not fail: the server filtered it out
    with pytest.raises(UsageError, match="add --server"):
        shell.run_line_magic("job_runs", "--search train")
    with pytest.raises(UsageError, match="--app"):
        shell.run_line_magic("job_runs", "--server")


def test_a_run_jobmagic_triggered_takes_its_params_from_the_ledger(
    shell: InteractiveShell,
) -> None:
    # Only "lr" was sent; the command also shows the default epochs. The ledger says what was
    # sent, so that is what the listing (and a rerun) uses.
    mine = shell.run_line_magic("trigger_job", "sandbox:demo:train lr=0.125 epochs=1 -o r")
    (listed,) = jobmagic.runs("sandbox:demo:train", search=mine.name)
    assert dict(listed.params) == {"lr": "0.125", "epochs": "1"}
    mine.wait(timeout=60)


# --- rerun ----------------------------------------------------------------------------------


def test_rerun_of_an_outside_run_changes_one_param_and_sends_the_rest_unchanged(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    name = _raw_trigger(shared_sandbox, TRAIN_APP, {"lr": "0.3", "epochs": "2"})
    again = shell.run_line_magic("job_rerun", f"{name} --app sandbox:demo:train lr=0.4 -o again")
    assert shell.user_ns["again"] is again
    with pytest.raises(UsageError, match="--wait"):
        shell.run_line_magic("job_rerun", f"{name} --app sandbox:demo:train --logs")
    assert again.name != name and again.rerun_of == name
    sent = shared_sandbox.get_run(TRAIN_APP, again.name)
    assert sent is not None
    template = _template(shared_sandbox, "sandbox:demo:train")
    assert sent["command"] == fill_command(template, {"lr": "0.4", "epochs": "2"})
    # The ledger links the attempts, and so does the DataFrame.
    shell.run_line_magic("job_runs", "--stored -o df")
    frame = shell.user_ns["df"]
    row = frame[frame["name"] == again.name].iloc[0]
    assert row["rerun_of"] == name
    assert (row["params.lr"], row["params.epochs"]) == ("0.4", "2")
    # A rerun of the rerun, waited for: its params come from the ledger this time.
    waited = shell.run_line_magic(
        "job_rerun", f"{again.name} --app sandbox:demo:train --wait --timeout 60"
    )
    assert waited.status == RunStatus.FINISHED and waited.rerun_of == again.name
    assert dict(waited.params) == {"lr": "0.4", "epochs": "2"}
    again.wait(timeout=60)


def test_handle_rerun_keeps_the_sent_params_and_chains(shell: InteractiveShell) -> None:
    first = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
    second = first.rerun(epochs="2")
    third = second.rerun({"lr": "0.9"})
    assert (second.rerun_of, third.rerun_of) == (first.name, second.name)
    assert dict(third.params) == {"lr": "0.9", "epochs": "2"}
    for handle in (first, second, third):
        assert handle.wait(timeout=60).status == RunStatus.FINISHED
    frame = runs_to_dataframe([first, second, third])
    assert frame["rerun_of"].tolist() == [pd.NA, first.name, second.name]
    with pytest.raises(UsageError, match="name=value"):
        shell.run_line_magic("job_rerun", "--app sandbox:demo:train")


def test_line_magics_return_their_result_with_q_as_without(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    """-q only keeps a magic from displaying anything itself: `run = %job_rerun … -q` and
    `run = %trigger_job … -q` both give the handle, as without -q."""
    name = _raw_trigger(shared_sandbox, TRAIN_APP, {"lr": "0.3", "epochs": "1"})
    quiet = shell.run_line_magic("job_rerun", f"{name} --app sandbox:demo:train lr=0.5 -q")
    assert quiet is not None and quiet.rerun_of == name and quiet.params["lr"] == "0.5"
    loud = shell.run_line_magic("job_rerun", f"{name} --app sandbox:demo:train lr=0.6")
    assert loud.rerun_of == name
    triggered = shell.run_line_magic("trigger_job", "sandbox:demo:train lr=0.7 epochs=1 -q")
    assert triggered is not None and triggered.params["lr"] == "0.7"
    # Cell magics keep their result through -o, and return nothing themselves.
    assert shell.run_cell_magic("trigger_job", "sandbox:demo:train -q -o cell", "lr: 0.8") is None
    assert shell.user_ns["cell"].params["lr"] == "0.8"


AMBIGUOUS_JOBS = """
cluster: test
workspace: history
jobs:
  - name: pair
    command: "{python} -c print('{{aa}}{{bb}}')"
    params:
      - name: aa
        default: "x"
      - name: bb
        default: "y"
"""


def test_an_ambiguous_template_keeps_the_command_and_a_rerun_resends_it(tmp_path: Path) -> None:
    with (
        sandbox_serving(AMBIGUOUS_JOBS, tmp_path) as server,
        session_on(server, tmp_path / "ledger.db") as session,
    ):
        name = _raw_trigger(server, "app-test-history-pair", {"aa": "12", "bb": "3"})
        (listed,) = jobmagic.runs("test:history:pair", search=name, session=session)
        assert dict(listed.params) == {}
        original = server.get_run("app-test-history-pair", name)
        assert original is not None and "123" in original["command"]
        assert listed.run.command == original["command"] and listed.command is None
        again = listed.rerun()
        sent = server.get_run("app-test-history-pair", again.name)
        assert sent is not None and sent["command"] == original["command"]
        with pytest.raises(jobmagic.ParamsError, match="could not be read back"):
            listed.rerun(aa="1")
        again.wait(timeout=60)


# --- the whole sweep at once ------------------------------------------------------------------


def test_a_sweep_of_sleeps_is_terminated_as_a_whole_and_rerun(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = jobmagic.sweep("sandbox:demo:sleep", grid={"seconds": ["600", "601", "602"]})
    assert len(sweep) == 3 and not sweep.failures
    for handle in sweep:  # running, so there is a process to stop
        _until(lambda h=handle: h.refresh().status == RunStatus.RUNNING, f"{handle.name} running")
    answers = sweep.terminate()
    assert set(answers) == {handle.name for handle in sweep}
    capsys.readouterr()
    finals = sweep.wait(timeout=120)
    assert [run.status for run in finals] == [RunStatus.TERMINATED] * 3
    # The progress line --wait prints for a sweep, ending with the final counts.
    assert "3 runs · 3 TERMINATED" in capsys.readouterr().out
    assert sweep.live == [] and sweep.terminate() == {}

    again = sweep.rerun_failed()
    assert isinstance(again, SweepResult) and len(again) == 3
    assert sorted(h.rerun_of or "" for h in again) == sorted(h.name for h in sweep)
    assert sorted(h.params["seconds"] for h in again) == ["600", "601", "602"]
    again.terminate()
    assert {run.status for run in again.wait(timeout=120, progress=False)} == {RunStatus.TERMINATED}
    assert [run.status for run in again.refresh()] == [RunStatus.TERMINATED] * 3
    with pytest.raises(TimeoutError, match="still going"):
        SweepResult(handles=[jobmagic.trigger("sandbox:demo:sleep", {"seconds": "600"})]).wait(
            timeout=0.3, progress=False
        )


# --- the card's "Run again" and the board's sweep buttons (real widgets, clicked) -----------


def test_card_run_again_opens_the_params_and_triggers_a_linked_run(
    shared_sandbox: SandboxServer, tmp_path: Path
) -> None:
    from jobmagic.widgets import RunCard

    with session_on(shared_sandbox, tmp_path / "ledger.db") as session:
        first = engine.trigger(
            session, Target(app="sandbox:demo:train"), {"lr": "0.2", "epochs": "1"}
        )
        card = RunCard(first)
        assert card.rerun_button.layout.display != "none"
        card.rerun_button.click()
        form = _until(lambda: card.rerun_form, "the Run again form")
        assert form.fields["lr"].value == "0.2" and form.fields["epochs"].value == "1"
        form.fields["lr"].value = "0.02"
        form.trigger_button.click()
        new_card = _until(lambda: card.reruns and card.reruns[0], "the rerun's card")
        assert "rerun of " + first.name in new_card.rerun_of_label.value
        # The saved copies say it too: the text line and the static HTML.
        assert new_card.text().endswith(f"rerun of {first.name}")
        assert f"rerun of {first.name}" in new_card.snapshot_html()
        assert "rerun of" not in card.snapshot_html()
        sent = shared_sandbox.get_run(TRAIN_APP, new_card.run.name)
        assert sent is not None and sent["command"].endswith("--lr=0.02 --epochs=1")
        for handle in (first, form.history[0]):
            handle.wait(timeout=60)
        card.close()
        form.close()


def test_board_terminate_all_asks_once_then_stops_every_live_run(
    shared_sandbox: SandboxServer, tmp_path: Path
) -> None:
    from jobmagic.domain.engine import run_sweep
    from jobmagic.widgets import RunsBoard

    with session_on(shared_sandbox, tmp_path / "ledger.db") as session:
        resolved = session.resolve(Target(app="sandbox:demo:sleep"))
        sweep = run_sweep(session, resolved, [{"seconds": "600"}, {"seconds": "601"}])
        board = RunsBoard(sweep.handles, actions=sweep)
        board.terminate_all_button.click()
        assert "2" in board.terminate_confirm_text.value
        assert board.terminate_confirm_box.layout.display is None  # shown
        board.terminate_confirm_button.click()
        board.terminate_confirm_button.click()  # a double click asks once
        _until(lambda: "Asked 2 runs" in board.actions_message.value, "the terminate answer")
        finals = sweep.wait(timeout=120, progress=False)
        assert {run.status for run in finals} == {RunStatus.TERMINATED}
        board.rerun_failed_button.click()
        _until(lambda: board.rerun_result is not None, "the rerun sweep")
        assert len(board.rerun_result) == 2
        board.rerun_result.terminate()
        board.rerun_result.wait(timeout=120, progress=False)
        board.close()
