"""One record of a run's params, tags and metrics (issue 23, point 2).

Attaching, rerunning, a form, a card's "Run again" and a later kernel all read the same
record: what the ledger says was sent (else what the server's run says), and the run's
metrics as the server has them. Over real parts: the sandbox on loopback, a real
InteractiveShell for the magics, and the real widgets clicked from Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell

import jobmagic
from jobmagic.domain import engine
from jobmagic.domain.target import Target
from jobmagic.ipython.views import bundle_for
from jobmagic.ledger import Ledger
from jobmagic.models import JobRun, RunStatus
from jobmagic.sandbox import SandboxServer
from jobmagic.widgets.board import RunsBoard
from tests.sessions import sandbox_serving, session_on, shell_on
from tests.sessions import until as _until

TRAIN = "sandbox:demo:train"
TRAIN_APP = "app-sandbox-demo-train"


def _row(board: RunsBoard, name: str) -> Any:
    (source,) = [s for s in board.sources if s.run.name == name]
    return source


def _raw_trigger(server: SandboxServer, params: dict[str, str]) -> str:
    """Start a train run as someone outside jobmagic would: nothing in any ledger."""
    with httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {server.token}"},
        trust_env=False,
        timeout=10.0,
    ) as client:
        answer = client.post(
            "/jobs/trigger", json={"applicationId": TRAIN_APP, "input": {"params": params}}
        )
    answer.raise_for_status()
    return str(answer.json()["jobRunName"])


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(shared_sandbox, tmp_path / "ledger.db", monkeypatch) as ip:
        yield ip


# --- attaching -------------------------------------------------------------------------------


def test_attaching_a_run_keeps_its_params_and_its_rerun_tag(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    first = shell.run_line_magic("trigger_job", f"{TRAIN} lr=0.01 epochs=1 -q")
    again = first.rerun(epochs="2")
    for handle in (first, again):
        assert handle.wait(timeout=60).status == RunStatus.FINISHED

    attached = shell.run_line_magic("job_run", f"{again.name} --app {TRAIN}")
    assert dict(attached.params) == {"lr": "0.01", "epochs": "2"}
    assert attached.rerun_of == first.name
    html = bundle_for(attached)["text/html"]
    assert "No params were sent." not in html and "rerun of" in html

    # From then on the board shows the row whole, and the ledger still holds what was sent.
    board = shell.run_line_magic("job_runs", "")
    row = _row(board, again.name)
    assert dict(row.params) == {"lr": "0.01", "epochs": "2"} and row.rerun_of == first.name
    assert "epochs=2" in board.snapshot_html()
    with Ledger(tmp_path / "ledger.db", read_only=True) as ledger:
        entry = ledger.entries_for_runs(TRAIN_APP, [again.name])[again.name]
    assert dict(entry.params) == {"lr": "0.01", "epochs": "2"} and entry.rerun_of == first.name


def test_attaching_a_run_started_elsewhere_reads_its_params_from_the_server(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    name = _raw_trigger(shared_sandbox, {"lr": "0.07", "epochs": "1"})
    attached = shell.run_line_magic("job_run", f"{name} --app {TRAIN}")
    assert dict(attached.params) == {"lr": "0.07", "epochs": "1"}
    assert attached.command is None  # read back, not an override it sent
    attached.wait(timeout=60)


def test_a_board_of_an_attached_handle_takes_the_ledgers_record(
    shared_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A handle that knew nothing of what was sent (as an attach did before) learns it from
    the ledger's entry when a board lists that run; an empty record never blanks a handle."""
    with session_on(shared_sandbox, tmp_path / "ledger.db") as session:
        first = engine.trigger(session, Target(app=TRAIN), {"lr": "0.5", "epochs": "1"})
        bare = session.handle_for(session.resolve(Target(app=TRAIN)), first.run)
        assert dict(bare.params) == {}
        (entry,) = session.ledger.entries()
        (listed,) = session.handles_for_entries([entry])
        assert listed is bare and dict(bare.params) == {"lr": "0.5", "epochs": "1"}
        bare.take_record(params={}, rerun_of=None, command=None)
        assert dict(bare.params) == {"lr": "0.5", "epochs": "1"}
        first.wait(timeout=60)


# --- %job_rerun, then the boards -------------------------------------------------------------


def test_job_rerun_leaves_the_source_row_whole_on_both_boards(shell: InteractiveShell) -> None:
    first = shell.run_line_magic("trigger_job", f"{TRAIN} lr=0.01 epochs=1 -q")
    assert first.wait(timeout=60).status == RunStatus.FINISHED
    again = shell.run_line_magic("job_rerun", f"{first.name} --app {TRAIN} lr=0.02 -q")
    assert again.wait(timeout=60).status == RunStatus.FINISHED
    for line in ("", "--all"):
        board = shell.run_line_magic("job_runs", line)
        source = _row(board, first.name)
        assert dict(source.params) == {"lr": "0.01", "epochs": "1"}, line
        assert {"loss", "accuracy"} <= set(source.metric_series), line
        rerun = _row(board, again.name)
        assert dict(rerun.params) == {"lr": "0.02", "epochs": "1"}, line
        assert rerun.rerun_of == first.name and {"loss"} <= set(rerun.metric_series), line
        html = board.snapshot_html()
        assert "lr=0.01" in html and "lr=0.02" in html and "loss" in html, line


# --- runs started from widgets ---------------------------------------------------------------


def _refreshed_metrics(card: Any) -> str:
    """The card shows its run's metrics by itself once the run ended (the tracker keeps a
    card's metrics current); a Refresh fetches them again. The metrics box it then shows."""
    handle = card.source
    assert handle.wait(timeout=60).status == RunStatus.FINISHED
    _until(lambda: "loss" in card.metrics_box.value, "the card's metrics, without a Refresh")
    card.refresh_button.click()
    _until(lambda: "Refreshed" in card.message.value, "the card's refresh")
    return str(card.metrics_box.value)


def test_runs_from_a_form_and_from_run_again_show_metrics_after_refresh(
    shared_sandbox: SandboxServer, tmp_path: Path
) -> None:
    with session_on(shared_sandbox, tmp_path / "ledger.db") as session:
        form = jobmagic.TriggerForm(TRAIN, session=session)
        form.fields["lr"].value = "0.04"
        form.fields["epochs"].value = "1"
        form.trigger_button.click()
        card = _until(lambda: form.cards and form.cards[0], "the form's card")
        box = _refreshed_metrics(card)
        assert "loss" in box and "accuracy" in box
        assert card.metrics_box.layout.display != "none"

        card.rerun_button.click()
        again_form = _until(lambda: card.rerun_form, "the Run again form")
        again_form.fields["lr"].value = "0.05"
        again_form.trigger_button.click()
        again_card = _until(lambda: card.reruns and card.reruns[0], "the rerun's card")
        box = _refreshed_metrics(again_card)
        assert "loss" in box and "accuracy" in box
        assert again_card.source.rerun_of == card.source.run.name
        for view in (card, again_card, form, again_form):
            view.close()


# --- a later kernel --------------------------------------------------------------------------


def test_rows_from_an_earlier_kernel_get_their_metrics_on_the_all_board(
    shared_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.db"
    with session_on(shared_sandbox, ledger) as earlier:
        run = engine.trigger(earlier, Target(app=TRAIN), {"lr": "0.03", "epochs": "1"})
        assert run.wait(timeout=60).status == RunStatus.FINISHED
        name = run.name
    with shell_on(shared_sandbox, ledger, monkeypatch) as ip:
        shared_sandbox.reset_stats()
        board = ip.run_line_magic("job_runs", "--all")
        row = _row(board, name)
        assert dict(row.params) == {"lr": "0.03", "epochs": "1"}
        assert {"loss", "accuracy"} <= set(row.metric_series)
        assert "jobmagic-col-metric" in board.table.value
        assert shared_sandbox.stats()["search_ml_runs"] == 1  # one search for the page
        # --metrics fills the board from its frame's search: still one search.
        shared_sandbox.reset_stats()
        ip.run_line_magic("job_runs", "--all --metrics --stored")
        assert shared_sandbox.stats()["search_ml_runs"] == 1
        # --stored asks the server nothing, metrics included.
        shared_sandbox.reset_stats()
        ip.run_line_magic("job_runs", "--all --stored")
        assert shared_sandbox.stats().get("search_ml_runs", 0) == 0


SCORE_JOBS = """
cluster: test
workspace: record
jobs:
  - name: score
    command: "{python} score.py {{acc}}"
    params:
      - {name: acc, default: "0.5"}
"""


def test_rows_from_an_earlier_kernel_get_pattern_metrics_when_patterns_are_set(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.db"
    (tmp_path / "score.py").write_text("import sys\nprint(f'acc={sys.argv[1]}')\n", "utf-8")
    with sandbox_serving(SCORE_JOBS, tmp_path) as server:
        with session_on(server, ledger) as earlier:
            run = engine.trigger(earlier, Target(app="test:record:score"), {"acc": "0.75"})
            assert run.wait(timeout=60).status == RunStatus.FINISHED
            name = run.name
        with shell_on(server, ledger, monkeypatch) as ip:
            ip.run_line_magic("config", "JobMagic.metric_patterns = {'acc': r'acc=([0-9.]+)'}")
            board = ip.run_line_magic("job_runs", "--all")
            assert dict(_row(board, name).metric_series) == {"acc": (0.75,)}


# --- the ledger: what a trigger sent is written once ------------------------------------------


def test_no_ledger_write_blanks_what_a_trigger_sent(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        attempt = ledger.record_attempt(
            host="h", target=TRAIN, application_id=TRAIN_APP, params={"lr": "1"}, rerun_of="r-0"
        )
        run = JobRun(name="r-1", application_id=TRAIN_APP, status=RunStatus.RUNNING)
        ledger.record_unknown(attempt, "the answer was lost")
        ledger.record_reconciled(attempt, run, "matched by name")
        ledger.record_acknowledged(attempt, run)
        ledger.update_runs([JobRun(name="r-1", application_id=TRAIN_APP)])
        (entry,) = ledger.entries()
    assert dict(entry.params) == {"lr": "1"} and entry.rerun_of == "r-0"
