"""A notebook outlives its kernel: reopened, scheduled and exported, it shows every run as it
ended, never "Error displaying widget: model not found" (issue 23).

The notebook of :data:`CELLS` — a train run waited on with ``--wait``, a card whose run ends
after its cell, a failed run's card, a sweep's board, a ``%job_runs`` board and a trigger
form — runs against the sandbox two ways:

* in real JupyterLab 4 (headless Chromium), where the form triggers a run and a card's "Run
  again" another; then it is saved, the server and its kernel stopped, and the notebook
  reopened with a fresh kernel in JupyterLab and in Notebook 7, default settings;
* through papermill, then a plain ``jupyter nbconvert --to html`` (no exporter setting), the
  page opened in Chromium offline with JavaScript off and on.

Every reader must show each run's name with its final status as the server has it, and no
widget error. Every wait is on a state, never on time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobmagic.sandbox import SandboxServer
from tests.browser.lab_support import (
    ARTIFACTS,
    Lab,
    chromium_page,
    evidence_on_failure,
    only_local_files,
    run_all_cells,
    save_notebook,
    skip_unless_browser,
    wait_for_cells_done,
    wait_for_reopened,
    write_notebook,
)

pytestmark = pytest.mark.browser

skip_unless_browser()

APPS = ("train", "sleep", "fail", "hello")
CELLS = [
    "%load_ext jobmagic\n%config JobMagic.poll_interval = 0.5\nimport jobmagic",
    "%%trigger_job sandbox:demo:train --wait -o trained\nlr: 0.1\nepochs: 1",
    "%%trigger_job sandbox:demo:sleep -o live\nseconds: 2",
    "failed = %trigger_job sandbox:demo:fail\nfailed",
    "%%trigger_job sandbox:demo:train --grid -o sweep\nlr: [0.2, 0.3]\nepochs: 1",
    "%job_runs",
    'form = jobmagic.TriggerForm("sandbox:demo:hello")\nform',
    # Every run ends while a cell runs: papermill records each view's final copy.
    "for run in [live, failed, *sweep]:\n    run.wait(timeout=120)",
]
#: What a reader must never see.
WIDGET_ERRORS = ("model not found", "Error displaying widget", "Loading widget")

#: ``[view, run name, status]`` for every run a static copy shows (cards, boards, forms):
#: all of them, or only those the reader sees (``visibleOnly``).
SHOWN_RUNS_JS = """(visibleOnly) => {
    const seen = el => !visibleOnly || el.checkVisibility();
    const text = (el, css) => (el.querySelector(css) || {textContent: ''}).textContent.trim();
    const shown = [];
    for (const twin of document.querySelectorAll('.jobmagic-twin')) {
        if (!seen(twin)) continue;
        for (const head of twin.querySelectorAll('.jobmagic-head')) {
            shown.push(['card', text(head, '.jobmagic-name'), text(head, '.jobmagic-badge')]);
        }
        for (const row of twin.querySelectorAll('tr.jobmagic-row')) {
            shown.push(['board', text(row, '.jobmagic-col-name'), text(row, '.jobmagic-badge')]);
        }
    }
    return shown;
}"""

#: True once the copies show every run of ``expected`` (name -> status) with that status,
#: and no run with another.
SHOWS_AS_ENDED_JS = f"""(expected) => {{
    const shown = ({SHOWN_RUNS_JS})(false);
    return Object.entries(expected).every(([n, s]) =>
            shown.some(([, name, status]) => name === n && status === s))
        && shown.every(([, name, status]) => !(name in expected) || expected[name] === status);
}}"""

#: The output rows of every view: each twin (its static copy) and the row right after it (its
#: widget output), with whether the reader sees them.
TWIN_ROWS_JS = """() => [...document.querySelectorAll('.jp-OutputArea-child')]
    .filter(row => row.querySelector(':scope > .jp-OutputArea-output > .jobmagic-twin'))
    .map(row => {
        const next = row.nextElementSibling;
        return {
            twin: row.checkVisibility(),
            widget: Boolean(next && next.checkVisibility()),
            widgetText: next ? next.textContent.trim().slice(0, 80) : null,
        };
    })"""


def _env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    return {
        "TFY_HOST": sandbox.host,
        "TFY_API_KEY": sandbox.token,
        "JOBMAGIC_HOME": str(tmp_path / "jm"),
        "HOME": str(tmp_path / "home"),
    }


def _server_runs(sandbox: SandboxServer) -> dict[str, str]:
    """Every run's final status, as the server has it: name -> status."""
    runs = {}
    for app in APPS:
        for run in sandbox.runs(f"app-sandbox-demo-{app}"):
            done = sandbox.wait_for_run(f"app-sandbox-demo-{app}", run["name"], timeout=120)
            runs[run["name"]] = done["status"]
    return runs


def _shows_as_ended(shown: list[list[str]], expected: dict[str, str]) -> list[str]:
    """What is wrong with ``shown`` (from :data:`SHOWN_RUNS_JS`): runs missing, or shown
    with another status than the server's final one anywhere."""
    problems = [f"{name} not shown" for name in expected if name not in {n for _, n, _ in shown}]
    problems += [
        f"{view} shows {name} {status}, not {expected[name]}"
        for view, name, status in shown
        if name in expected and status != expected[name]
    ]
    return problems


def _assert_reads_as_ended(
    page: Any, expected: dict[str, str], what: str, *, trusted: bool = True
) -> None:
    """The reader sees every run with its final status, each view's copy and none of its
    widget output, and no widget error anywhere. Untrusted, styles are stripped: the widget
    outputs show, empty (their text is ``""``; no widget view is rendered untrusted)."""
    rows = page.evaluate(TWIN_ROWS_JS)
    # Three cards (the rerun's is in its source card's), two boards, one form.
    assert len(rows) == 6, rows
    assert all(row["twin"] for row in rows), (what, rows)
    if trusted:
        assert not any(row["widget"] for row in rows), (what, rows)
    else:
        assert all(row["widgetText"] == "" for row in rows), (what, rows)
    shown = page.evaluate(SHOWN_RUNS_JS, True)
    assert _shows_as_ended(shown, expected) == [], (what, shown)
    boards = {name for view, name, _ in shown if view == "board"}
    assert len(boards) >= 5, shown  # the sweep's two runs, and %job_runs' every run then
    text = page.locator("body").inner_text()
    for error in WIDGET_ERRORS:
        assert error not in text, (what, error)


def test_saved_in_lab_then_reopened_in_lab_and_notebook_7(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    scratch = tmp_path / "jupyter"  # one set of Jupyter folders: the notebook stays trusted
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        root = tmp_path / "root"
        name = write_notebook(root, "saved.ipynb", CELLS)
        env = _env(sandbox, tmp_path)
        with (
            Lab(root, scratch, env) as lab,
            chromium_page(viewport=(1280, 2000)) as page,
            evidence_on_failure(page, ARTIFACTS, "saved-live"),
        ):
            page.goto(lab.url(name))
            run_all_cells(page)
            wait_for_cells_done(page, timeout_ms=180_000)
            # Live: every view is its widget, with its controls; its copy is hidden.
            page.locator(".jobmagic-form").wait_for(timeout=60_000)
            page.wait_for_function(
                "() => document.querySelectorAll('.jobmagic-live').length === 6"
                " && [...document.querySelectorAll('.jobmagic-twin')]"
                ".every(t => !t.checkVisibility())",
                timeout=60_000,
            )
            assert page.locator(".jobmagic-live button:visible").count() >= 10

            # The form triggers a run; its card shows in the form.
            form = page.locator(".jobmagic-form").first
            form.locator(".jobmagic-trigger").click()
            form.locator(".jobmagic-form-history .jobmagic-status-finished").wait_for(
                timeout=90_000
            )
            # "Run again" on the --wait card: the new card shows under the source card, in
            # the same output, outside the source card's box.
            source = page.locator(".jobmagic-card-output").first
            source_box = source.locator(".jobmagic-card").first
            source_box.locator(".jobmagic-rerun").click()
            rerun_form = source_box.locator(".jobmagic-rerun-box .jobmagic-form")
            rerun_form.locator(".jobmagic-trigger").click()
            rerun = source.locator(".jobmagic-reruns .jobmagic-card").first
            rerun.locator(".jobmagic-status-finished").wait_for(timeout=90_000)
            assert "rerun of train-" in rerun.locator(".jobmagic-rerun-of").inner_text()
            assert source_box.locator(".jobmagic-reruns").count() == 0
            below = rerun.bounding_box()["y"]
            above = source_box.bounding_box()
            assert below >= above["y"] + above["height"]
            rerun_form.locator(".jobmagic-rerun-started").wait_for(timeout=30_000)
            # The Logs panel's lines go into the card's copy, folded.
            source_box.locator(".jobmagic-logs-toggle").click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jobmagic-twin .jobmagic-logs-details')]"
                ".some(d => d.textContent.includes('epoch=1'))",
                timeout=30_000,
            )

            expected = _server_runs(sandbox)
            assert len(expected) == 7 and sorted(expected.values()).count("FAILED") == 1
            # The copies Lab will save (hidden while the widgets show) reach every run's end.
            page.wait_for_function(
                SHOWS_AS_ENDED_JS,
                arg=expected,
                polling=500,
                timeout=60_000,
            )
            page.screenshot(path=str(ARTIFACTS / "saved-1-live.png"), full_page=True)
            save_notebook(page)
        # The server is gone, and its kernel with it: tomorrow, with a fresh kernel, in Lab and
        # in Notebook 7; then a colleague's Lab (other Jupyter folders: untrusted).
        readers = [("lab", scratch), ("notebook", scratch), ("lab", tmp_path / "colleague")]
        for app, folders in readers:
            trusted = folders == scratch
            shot = f"saved-2-reopened-{app}" if trusted else "saved-2-colleague"
            with (
                Lab(root, folders, env, app=app) as server,
                chromium_page(viewport=(1280, 2000)) as page,
                evidence_on_failure(page, ARTIFACTS, shot),
            ):
                page.goto(server.url(name))
                wait_for_reopened(page)
                _assert_reads_as_ended(page, expected, shot, trusted=trusted)
                if trusted:
                    logs = page.locator(".jobmagic-twin .jobmagic-logs-details").first
                    logs.locator("summary").click()
                    assert "epoch=1" in logs.inner_text()
                else:
                    assert page.locator(".jp-OutputArea-output style").count() == 0
                page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)


def test_papermill_then_plain_nbconvert_shows_every_run_with_javascript_off_and_on(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill  # type: ignore[import-untyped]

    for variable in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        folder = tmp_path / variable.lower()
        folder.mkdir()
        monkeypatch.setenv(variable, str(folder))
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        monkeypatch.setenv("TFY_HOST", sandbox.host)
        monkeypatch.setenv("TFY_API_KEY", sandbox.token)
        name = write_notebook(tmp_path, "scheduled.ipynb", CELLS)
        executed = tmp_path / "scheduled-out.ipynb"
        papermill.execute_notebook(
            str(tmp_path / name),
            str(executed),
            kernel_name="python3",
            cwd=str(tmp_path),
            progress_bar=False,
        )
        expected = _server_runs(sandbox)
    assert len(expected) == 5
    # A user's own pipeline: nbconvert as installed, no option, no jobmagic exporter.
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)],
        check=True,
        capture_output=True,
    )
    page_path = executed.with_suffix(".html")
    for javascript in (False, True):
        mode = "on" if javascript else "off"
        with chromium_page(viewport=(1280, 2000), javascript=javascript) as page:
            only_local_files(page)
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            page.screenshot(
                path=str(ARTIFACTS / f"saved-3-nbconvert-js-{mode}.png"), full_page=True
            )
            _assert_reads_as_ended(page, expected, f"nbconvert, JavaScript {mode}")
