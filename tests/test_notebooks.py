"""The notebooks in notebooks/ run top to bottom with nbclient, against the sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from jobmagic.ledger import LEDGER_FILENAME, Ledger
from jobmagic.sandbox import SandboxServer

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
pytestmark = pytest.mark.notebook


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Private HOME, JOBMAGIC_HOME and Jupyter folders for the kernel."""
    for name, sub in {
        "HOME": "home",
        "JOBMAGIC_HOME": "jobmagic",
        "IPYTHONDIR": "ipython",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_CONFIG_DIR": "config",
    }.items():
        folder = tmp_path / sub
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.delenv("TFY_HOST", raising=False)
    monkeypatch.delenv("TFY_API_KEY", raising=False)
    yield tmp_path


def _execute(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        store_widget_state=True,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode) -> str:
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(str(output.get("text", "")))
            texts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(texts)


def test_notebooks_are_committed_without_outputs() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


def test_quickstart(kernel_env: Path) -> None:
    nb = _execute(nbformat.read(NOTEBOOKS / "01-quickstart.ipynb", as_version=4))
    text = _outputs(nb)
    assert "application/vnd.jupyter.widget-view+json" in str(nb.cells)
    assert "FINISHED" in text and "FAILED" in text
    assert "epoch=1" in text
    assert "<RunStatus.TERMINATED: 'TERMINATED'>" in text
    assert nb.metadata.get("widgets"), "widget state is saved with the notebook"
    with Ledger(kernel_env / "jobmagic" / LEDGER_FILENAME) as ledger:
        entries = ledger.entries()
    assert entries
    # Every attempt names the kernel that made it (from its connection file).
    assert all(entry.kernel_id for entry in entries)
    assert len({entry.kernel_id for entry in entries}) == 1


def test_sweeps_and_analysis(kernel_env: Path) -> None:
    nb = _execute(nbformat.read(NOTEBOOKS / "02-sweeps-and-analysis.ipynb", as_version=4))
    text = _outputs(nb)
    assert "image/png" in str(nb.cells)  # the timeline
    assert "params.lr" in text
    assert "Triggered 2 of 2 runs" in text
    # Sweep -> metrics -> compare -> plot -> best run.
    assert "metrics.loss" in text and "metrics.accuracy" in text
    plot = next(cell for cell in nb.cells if "plot_metric" in cell.source)
    assert any("image/png" in output.get("data", {}) for output in plot.outputs)
    best = next(cell for cell in nb.cells if "best.params" in cell.source)
    assert "'lr': '0.1'" in _outputs(nbformat.v4.new_notebook(cells=[best]))


def test_search_notebook(kernel_env: Path) -> None:
    pytest.importorskip("optuna")
    nb = _execute(nbformat.read(NOTEBOOKS / "04-search.ipynb", as_version=4))
    text = _outputs(nb)
    assert "COMPLETE" in text and "trial_state" in text
    assert "<RunStatus.FINISHED: 'FINISHED'>, True" in text  # the best run, rerun
    # Both pictures, each displayed by itself.
    pictures = [
        o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(pictures) >= 2
    assert "(16, 'train-" in text  # 12 trials, then 4 more in the same study


def test_truefoundry_notebook_against_the_sandbox(kernel_env: Path, tmp_path: Path) -> None:
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        os.environ["TFY_API_KEY"] = sandbox.token
        nb = nbformat.read(NOTEBOOKS / "03-truefoundry.ipynb", as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        params.source = f"TFY_HOST = {sandbox.host!r}\nJOB = 'sandbox:demo:train'"
        nb = _execute(nb)
        stats = sandbox.stats()
    text = _outputs(nb)
    assert "Dry run: 1 request(s) would be sent" in text
    assert sandbox.token not in text
    assert "NotFoundError:" in text
    assert stats.get("trigger", 0) == 0  # the dry run sent nothing


# --- saved outputs follow the runs (issue 11) ---------------------------------------------------

#: Runs that end after their cards are shown, in several views, then a timeline.
VIEWS_CELLS = (
    "%load_ext jobmagic",
    "%%trigger_job sandbox:demo:sleep -o s\nseconds: 2",
    "f = %trigger_job sandbox:demo:fail\nf",
    "%job_runs",
    "s.wait(60)\nf.wait(60);",
    "import jobmagic\njobmagic.plot_timeline([s, f])",
)


def execute_views_notebook(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The notebook of :data:`VIEWS_CELLS`, executed by nbclient against ``sandbox``."""
    monkeypatch.setenv("TFY_HOST", sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", sandbox.token)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in VIEWS_CELLS])
    NotebookClient(nb, kernel_name="python3", timeout=120, store_widget_state=True).execute()
    return nb


def _data(cell: Any, index: int = 0) -> dict[str, str]:
    """A cell's ``index``-th display output: a view's static copy first, its widget next."""
    outputs = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
    return dict(outputs[index].data)


def test_a_saved_notebook_shows_how_its_runs_ended(
    kernel_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        nb = execute_views_notebook(sandbox, monkeypatch)
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    nb = nbformat.read(saved, as_version=4)
    sleep_card, fail_card, board = (_data(nb.cells[i]) for i in (1, 2, 3))
    # Every card was displayed while its run was queued; the saved copies say how it ended.
    assert "FINISHED" in sleep_card["text/plain"] and "exit 0" in sleep_card["text/plain"]
    assert "Status: </span>" in sleep_card["text/html"]
    assert "FINISHED" in sleep_card["text/html"] and "Exit code: 0" in sleep_card["text/html"]
    assert "FAILED" in fail_card["text/plain"] and "exit 3" in fail_card["text/plain"]
    assert "FAILED" in fail_card["text/html"] and "Exit code: 3" in fail_card["text/html"]
    assert "CREATED" not in sleep_card["text/html"] + fail_card["text/html"]
    assert board["text/plain"] == "2 runs: 1 FINISHED · 1 FAILED"
    for i in (1, 2, 3):  # still live where widgets run: the widget alone, after its copy
        assert "application/vnd.jupyter.widget-view+json" in _data(nb.cells[i], 1)
    # The timeline shows itself, with no %matplotlib line.
    assert "image/png" in _data(nb.cells[5])


def test_papermill_names_the_failed_run_and_why(
    kernel_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = tmp_path / "fails.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext jobmagic"),
            nbformat.v4.new_code_cell("%trigger_job sandbox:demo:fail --wait --timeout 60"),
            nbformat.v4.new_code_cell("print('not reached')"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, source)
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        monkeypatch.setenv("TFY_HOST", sandbox.host)
        monkeypatch.setenv("TFY_API_KEY", sandbox.token)
        with pytest.raises(PapermillExecutionError) as caught:
            papermill.execute_notebook(
                str(source), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False
            )
    error = caught.value
    assert error.ename == "UsageError"
    assert "ended FAILED with exit code 3" in error.evalue and "fail-" in error.evalue
    # papermill's own message (what a CI log shows) carries the same text, and no traceback.
    message = str(error)
    assert error.evalue in message
    assert "Traceback" not in message and "File " not in message
