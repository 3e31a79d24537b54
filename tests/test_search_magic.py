"""``%%trigger_job TARGET --search …`` in a real InteractiveShell against the sandbox: the
body is the space (fixed values, lists of choices, ranges as mappings), errors point at the
body's line and column, the flags are checked, and Optuna is not imported by ``%load_ext``
nor by ``import jobmagic``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from sessions import sandbox_serving, shell_on

pytest.importorskip("optuna")

from jobmagic.domain.search_result import SearchResult
from jobmagic.params import Choice, Fixed, Range, parse_space_body
from jobmagic.sandbox import SandboxServer

REPO = Path(__file__).resolve().parent.parent
JOBS = """
cluster: test
workspace: magic
jobs:
  - name: train
    command: >-
      {python} -u {demo_dir}/demo_programs.py train --lr={{lr}}
      --epochs={{epochs}} --epoch-seconds=0.1
    params:
      - name: lr
      - name: epochs
      - name: cfg
        default: "{}"
"""


@pytest.fixture
def shell(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with (
        sandbox_serving(JOBS, tmp_path, grace_period=1.0) as server,
        shell_on(server, tmp_path / "ledger.db", monkeypatch) as live,
    ):
        live.user_ns["_server"] = server
        yield live


def test_a_search_cell_runs_the_study_and_stores_its_result(shell: InteractiveShell) -> None:
    shell.run_cell_magic(
        "trigger_job",
        "test:magic:train --search tpe --trials 4 --concurrency 2 --objective loss:min "
        "--pruner none --name magic-search -o found -q",
        "lr: {low: 0.01, high: 0.3, log: true}\nepochs: [1, 2]\n",
    )
    found = shell.user_ns["found"]
    assert isinstance(found, SearchResult)
    assert found.name == "magic-search" and str(found.objective) == "loss:min"
    rows = found.trials()
    assert len(rows) == 4 and {row.state for row in rows} == {"COMPLETE"}
    assert {row.params["epochs"] for row in rows} <= {"1", "2"}
    assert all(0.01 <= row.params["lr"] <= 0.3 for row in rows)
    server: SandboxServer = shell.user_ns["_server"]
    assert server.stats()["trigger"] == 4
    frame = found.to_dataframe()
    assert list(frame["trial_state"]) == ["COMPLETE"] * 4
    # The same name again continues the study: 2 more trials, 6 in all.
    shell.run_cell_magic(
        "trigger_job",
        "test:magic:train --search tpe --trials 2 --objective loss:min --pruner none "
        "--name magic-search -o more -q",
        "lr: {low: 0.01, high: 0.3, log: true}\nepochs: [1, 2]\n",
    )
    assert len(shell.user_ns["more"].trials()) == 6
    assert server.stats()["trigger"] == 6


def test_body_errors_carry_the_cells_line_and_column(shell: InteractiveShell) -> None:
    line = "test:magic:train --search random --trials 2 --objective loss"
    with pytest.raises(UsageError, match=r"line 3, column 9: `epochs`: low \(5\) is above high"):
        shell.run_cell_magic("trigger_job", line, "lr: [0.1]\nepochs: {low: 5, high: 1}\n")
    with pytest.raises(UsageError, match=r"line 2, column \d+: `lr`: a range takes low, high"):
        shell.run_cell_magic("trigger_job", line, "lr: {lo: 1, high: 2}\n")
    with pytest.raises(UsageError, match=r"line 2, column 11: `lr`: low must be a number"):
        shell.run_cell_magic("trigger_job", line, "lr: {low: abc, high: 2}\n")
    with pytest.raises(UsageError, match="direction of metric 'uptime' is not known"):
        shell.run_cell_magic(
            "trigger_job",
            "test:magic:train --search tpe --trials 1 --objective uptime",
            "lr: [0.1]\n",
        )
    with pytest.raises(UsageError, match="A search needs an objective"):
        shell.run_cell_magic(
            "trigger_job", "test:magic:train --search tpe --trials 1", "lr: [0.1]\n"
        )
    server: SandboxServer = shell.user_ns["_server"]
    assert server.stats().get("trigger", 0) == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("X --search tpe --objective loss", "--search needs --trials N"),
        ("X --trials 3", "--trials only applies with --search"),
        ("X --search tpe --trials 3 --grid", "--grid does not go with --search"),
        ("X --search bayes --trials 3", "invalid choice: 'bayes'"),
        ("X --pruner median", "--pruner only applies with --search"),
    ],
)
def test_the_search_flags_are_checked(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_cell_magic("trigger_job", line, "lr: [0.1]\n")


def test_a_literal_mapping_param_is_quoted_json_under_search() -> None:
    space = parse_space_body(
        "cfg: '{\"depth\": 3}'\nlr: [0.1, 0.2]\nepochs: {low: 1, high: 5, step: 2}\n"
        "wd: {low: 0.0, high: 0.5}\n"
    )
    assert space == {
        "cfg": Fixed('{"depth": 3}'),
        "lr": Choice(("0.1", "0.2")),
        "epochs": Range(1, 5, False, 2),
        "wd": Range(0.0, 0.5, False, None),
    }
    assert space["epochs"].is_int and not space["wd"].is_int  # type: ignore[union-attr]


def test_optuna_is_imported_by_a_search_only() -> None:
    code = (
        "import sys, jobmagic\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'jobmagic')\n"
        "jobmagic.search; jobmagic.SearchResult\n"
        "print('optuna' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
