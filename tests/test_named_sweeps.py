"""Sweeps that last: named (given or made up), kept in the ledger with their job, space,
objective and notebook, listed by ``jobmagic.sweeps()``, loaded back by
``jobmagic.load_sweep`` in a new plain ``python`` process, shown by ``%job_runs --sweep`` —
against the real sandbox and a real InteractiveShell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from sessions import session_on, shell_on

import jobmagic
from jobmagic.domain.session import JobSession
from jobmagic.domain.sweep_names import check_sweep_name, new_sweep_name
from jobmagic.errors import ParamsError
from jobmagic.ledger import LEDGER_FILENAME
from jobmagic.models import RunStatus
from jobmagic.sandbox import SandboxServer

REPO = Path(__file__).resolve().parent.parent
TRAIN = "sandbox:demo:train"


@pytest.fixture
def ledger_path(isolated_home: Path) -> Path:
    """The default ledger of the isolated home: a new process finds it by itself."""
    return isolated_home / ".jobmagic" / LEDGER_FILENAME


@pytest.fixture
def session(shared_sandbox: SandboxServer, ledger_path: Path) -> Iterator[JobSession]:
    with session_on(shared_sandbox, ledger_path) as live:
        yield live


def _grid(lrs: list[str]) -> dict[str, list[str]]:
    return {"lr": lrs, "epochs": ["1"]}


# -- names ------------------------------------------------------------------------------


def test_a_made_up_name_is_the_job_and_two_words_and_never_one_taken() -> None:
    made = new_sweep_name("sandbox:demo:train", taken=lambda name: False)
    head, first, second = made.split("-")
    assert head == "train" and first.isalpha() and second.isalpha()
    # Every pair taken: a short random id still finds a free name.
    fallback = new_sweep_name("train", taken=lambda name: name.count("-") == 2)
    assert fallback.startswith("train-") and fallback.count("-") == 1
    with pytest.raises(ParamsError, match="not 'lr scan'"):
        check_sweep_name("lr scan")


def test_a_sweep_without_a_name_gets_one_and_each_run_carries_it(session: JobSession) -> None:
    first = jobmagic.sweep(TRAIN, grid=_grid(["0.1"]), session=session)
    second = jobmagic.sweep(TRAIN, grid=_grid(["0.1"]), session=session)
    assert first.name and second.name and first.name != second.name
    assert first.name.startswith("train-")
    entries = session.ledger.sweep_entries(first.name)
    assert [entry.run_name for entry in entries] == [first[0].name]
    assert "into sweep " + first.name in first.summary()
    # The frames name the sweep of each run, the sweep's own frame as the ledger's.
    assert list(first.to_dataframe()["sweep"]) == [first.name]
    assert first.name in set(jobmagic.runs_to_dataframe(entries)["sweep"])


def test_the_ledger_keeps_the_job_space_objective_and_notebook(
    shared_sandbox: SandboxServer, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Jupyter names a notebook's kernel session; the record keeps it.
    monkeypatch.setenv("JPY_SESSION_NAME", "work/lr study.ipynb")
    with session_on(shared_sandbox, ledger_path) as session:
        result = jobmagic.sweep(
            TRAIN, grid=_grid(["0.1", "0.01"]), name="kept", objective="loss", session=session
        )
        record = session.ledger.sweep("kept")
    assert record is not None and result.name == "kept"
    assert record.kind == "grid" and record.application_fqn == TRAIN
    assert record.objective == "loss:min"  # the goal decided once, stored with it
    assert dict(record.space) == {"lr": ["0.1", "0.01"], "epochs": ["1"]}
    assert record.notebook == "work/lr study.ipynb"
    monkeypatch.delenv("JPY_SESSION_NAME")
    with session_on(shared_sandbox, ledger_path) as session:  # nbclient, papermill, VS Code
        jobmagic.sweep(TRAIN, runs=[{"lr": "0.2", "epochs": "1"}], name="nb-less", session=session)
        unnamed = session.ledger.sweep("nb-less")
    assert unnamed is not None and unnamed.notebook is None and unnamed.kind == "runs"


def test_the_same_name_adds_runs_and_another_sweep_under_it_is_refused(
    session: JobSession, shared_sandbox: SandboxServer
) -> None:
    jobmagic.sweep(TRAIN, grid=_grid(["0.1"]), name="scan", objective="loss", session=session)
    again = jobmagic.sweep(
        TRAIN, grid=_grid(["0.1"]), name="scan", objective="loss:min", session=session
    )
    assert again.name == "scan" and len(session.ledger.sweep_entries("scan")) == 2

    before = len(shared_sandbox.runs("app-sandbox-demo-train"))
    with pytest.raises(ParamsError, match=r"its space has lr: \['0.1'\], this one lr: \['0.2'\]"):
        jobmagic.sweep(TRAIN, grid=_grid(["0.2"]), name="scan", objective="loss", session=session)
    with pytest.raises(ParamsError, match="its objective is loss:min, this one's accuracy:max"):
        jobmagic.sweep(
            TRAIN, grid=_grid(["0.1"]), name="scan", objective="accuracy", session=session
        )
    with pytest.raises(ParamsError, match="it sweeps sandbox:demo:train, this one sandbox:demo:"):
        jobmagic.sweep("sandbox:demo:hello", grid={"name": ["x"]}, name="scan", session=session)
    with pytest.raises(ParamsError, match="another name"):
        jobmagic.sweep(TRAIN, grid=_grid(["0.1"]), name="scan", session=session)
    # Refused before anything was sent.
    assert len(shared_sandbox.runs("app-sandbox-demo-train")) == before
    assert len(session.ledger.sweep_entries("scan")) == 2


def test_sweeps_lists_every_sweep_with_counts_and_best_from_the_cache(
    session: JobSession,
) -> None:
    ranked = jobmagic.sweep(
        TRAIN, grid=_grid(["0.1", "0.01"]), name="ranked", objective="loss", session=session
    )
    ranked.wait(timeout=120, progress=False)
    best = ranked.best()  # fetches the metrics, which the ledger's cache keeps
    plain = jobmagic.sweep("sandbox:demo:fail", runs=[{}], name="failing", session=session)
    plain.wait(timeout=60, progress=False)

    frame = jobmagic.sweeps(session=session)
    assert list(frame["name"]) == ["failing", "ranked"]  # newest first
    row = frame.set_index("name").loc["ranked"]
    assert row["job"] == TRAIN and row["objective"] == "loss:min" and row["runs"] == 2
    assert row["finished"] == 2 and row["failed"] == 0
    assert row["best"] == pytest.approx(ranked.values()[best.name])
    failing = frame.set_index("name").loc["failing"]
    assert failing["failed"] == 1 and pd.isna(failing["objective"])
    assert str(frame["created"].dtype) == "datetime64[ns, UTC]"


def test_rerun_failed_adds_its_runs_to_the_same_sweep(session: JobSession) -> None:
    failed = jobmagic.sweep("sandbox:demo:fail", runs=[{}], name="retry-me", session=session)
    failed.wait(timeout=60, progress=False)
    again = failed.rerun_failed()
    assert again.name == "retry-me" and len(again) == 1
    entries = session.ledger.sweep_entries("retry-me")
    assert [entry.rerun_of for entry in entries] == [None, failed[0].name]


# -- load_sweep in a new process ----------------------------------------------------------

_LOAD = textwrap.dedent(
    """
    import json, sys
    import jobmagic
    from jobmagic.widgets.board import RunsBoard

    sweep = jobmagic.load_sweep(sys.argv[1])
    ended = sweep.wait(timeout=120, progress=False)
    best = sweep.best().name  # fetches the metrics the board then shows
    board = RunsBoard(sweep.handles, actions=sweep)
    print(json.dumps({
        "name": sweep.name,
        "objective": str(sweep.objective),
        "runs": sorted(handle.name for handle in sweep),
        "statuses": sorted(run.status.value for run in ended),
        "best": best,
        "board": board.snapshot_html(),
        "sort": board.sort_select.value,
    }))
    board.close()
    """
)


def test_load_sweep_in_a_new_python_process_gives_live_handles_best_and_board(
    session: JobSession, shared_sandbox: SandboxServer, isolated_home: Path
) -> None:
    started = jobmagic.sweep(
        TRAIN, grid=_grid(["0.1", "0.01"]), name="from-afar", objective="loss", session=session
    )
    env = {
        **os.environ,
        "TFY_HOST": shared_sandbox.host,
        "TFY_API_KEY": shared_sandbox.token,
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", _LOAD, "from-afar"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["name"] == "from-afar" and seen["objective"] == "loss:min"
    assert seen["runs"] == sorted(handle.name for handle in started)
    assert seen["statuses"] == ["FINISHED", "FINISHED"]  # live handles: followed to their end
    # The best run by loss, as this process ranks them too.
    started.wait(timeout=120, progress=False)
    assert seen["best"] == started.best().name
    # Its board ranks by the objective: sorted by loss, the best marked.
    assert seen["sort"] == "loss" and "★" in seen["board"]
    assert seen["board"].index(seen["best"]) < seen["board"].index(
        next(name for name in seen["runs"] if name != seen["best"])
    )


def test_load_sweep_of_an_unknown_name_lists_the_ones_there(session: JobSession) -> None:
    jobmagic.sweep(TRAIN, grid=_grid(["0.1"]), name="known-one", session=session)
    loaded = jobmagic.load_sweep("known-one", session=session)
    assert loaded.summary() == "Sweep known-one: 1 runs of 1 attempts."
    with pytest.raises(jobmagic.JobmagicError, match=r"No sweep named 'nope'.*known-one"):
        jobmagic.load_sweep("nope", session=session)


# -- the magics ------------------------------------------------------------------------


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(shared_sandbox, ledger_path, monkeypatch) as live:
        yield live


def test_the_magic_names_a_grid_sweep_and_job_runs_sweep_shows_it(
    shell: InteractiveShell,
) -> None:
    body = "lr: [0.1, 0.01]\nepochs: 1\n"
    shell.run_cell_magic(
        "trigger_job", f"{TRAIN} --grid --name lr-scan --objective loss -q -o sw", body
    )
    result = shell.user_ns["sw"]
    assert result.name == "lr-scan" and str(result.objective) == "loss:min"
    result.wait(timeout=120, progress=False)

    board = shell.run_line_magic("job_runs", "--sweep lr-scan")
    assert board.text().startswith("Sweep lr-scan · sandbox:demo:train · objective loss:min")
    assert {run.name for run in board.runs} == {handle.name for handle in result}
    assert all(run.status is RunStatus.FINISHED for run in board.runs)
    board.close()

    # The same name for another grid is refused, naming the difference; nothing is sent.
    with pytest.raises(UsageError, match=r"lr: \['0.1', '0.01'\], this one lr: \['0.5'\]"):
        shell.run_cell_magic(
            "trigger_job",
            f"{TRAIN} --grid --name lr-scan --objective loss -q",
            "lr: [0.5]\nepochs: 1\n",
        )
    with pytest.raises(UsageError, match="No sweep named 'lr-scn'"):
        shell.run_line_magic("job_runs", "--sweep lr-scn")


def test_name_and_objective_need_a_sweep_and_a_known_direction(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="--name applies to sweeps: add --grid"):
        shell.run_cell_magic("trigger_job", f"{TRAIN} --name one", "lr: 0.1\n")
    with pytest.raises(UsageError, match="--objective applies to sweeps"):
        shell.run_line_magic("trigger_job", f"{TRAIN} --objective loss lr=0.1")
    with pytest.raises(UsageError, match="'uptime:min' or 'uptime:max'"):
        shell.run_cell_magic("trigger_job", f"{TRAIN} --grid --objective uptime", "lr: [0.1]\n")
    with pytest.raises(UsageError, match="--sweep reads jobmagic's ledger"):
        shell.run_line_magic("job_runs", f"--server --app {TRAIN} --sweep x")
