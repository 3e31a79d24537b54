"""The JupyterLab Runs panel (labextension/) in real JupyterLab and headless Chromium.

A ledger with runs of two jobs, a sweep, every ending and a hostile-looking name is written
with jobmagic's own Ledger into a private JOBMAGIC_HOME; Lab serves the built extension
(jobmagic/labextension, linked into a private data dir) with the server extension on. The
test opens the panel and checks what it lists, filters, opens details, follows a notebook
link, changes runs in the ledger from this process (as a script or another kernel would) and
waits for the toasts, and takes light and dark screenshots: into artifacts/screenshots, or
with JOBMAGIC_UPDATE_SCREENSHOTS=1 into docs/img/ (the README's), so a test run never edits
the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jobmagic.ledger import Ledger, SweepRecord
from jobmagic.models import JobRun, RunStatus
from tests.browser.lab_support import (
    ARTIFACTS,
    Lab,
    chromium_page,
    enable_jobmagic,
    evidence_on_failure,
    skip_unless_browser,
    skip_unless_labextension,
    write_notebook,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMG = ROOT / "docs" / "img"

skip_unless_browser()
skip_unless_labextension()

HOST = "http://127.0.0.1:9"  # nothing answers there: the stored statuses are what is shown
HOSTILE = "<img src=x onerror=window.__jm_pwned=1>"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _run(name: str, app: str, status: RunStatus, **fields: Any) -> JobRun:
    return JobRun(name=name, status=status, application_id=app, **fields)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def _write_ledger(path: Path) -> None:
    """Six runs, newest last: a sweep of two, one of each ending, two live."""
    with Ledger(path) as ledger:
        ledger.add_sweep(SweepRecord("lr-scan", "grid", objective="loss:min"))
        rows: list[tuple[dict[str, Any], JobRun]] = [
            (
                {"target": "train", "sweep": "lr-scan", "params": {"lr": "0.1"}},
                _run(
                    "train-a1",
                    "app-train",
                    RunStatus.FINISHED,
                    created_at=ago(40),
                    end_time=ago(31),
                    exit_code=0,
                ),
            ),
            (
                {
                    "target": "train",
                    "sweep": "lr-scan",
                    "params": {"lr": "1.0", "note": "<b>x</b>"},
                },
                _run(
                    "train-a2",
                    "app-train",
                    RunStatus.FAILED,
                    created_at=ago(39),
                    end_time=ago(37),
                    exit_code=1,
                    error="CUDA out of memory",
                ),
            ),
            (
                {"target": "report", "params": {}},
                _run(
                    "report-x",
                    "app-report",
                    RunStatus.TERMINATED,
                    created_at=ago(20),
                    end_time=ago(19),
                ),
            ),
            (
                {"target": "report", "params": {"title": HOSTILE}},
                _run(
                    HOSTILE,
                    "app-report",
                    RunStatus.FINISHED,
                    created_at=ago(15),
                    end_time=ago(14),
                    exit_code=0,
                ),
            ),
            (
                {"target": "eval", "notebook": "analysis.ipynb", "params": {"split": "test"}},
                _run("eval-b1", "app-eval", RunStatus.RUNNING, created_at=ago(5)),
            ),
            (
                {"target": "train", "params": {"lr": "0.01"}},
                _run("train-c1", "app-train", RunStatus.SCHEDULED, created_at=ago(1)),
            ),
        ]
        for attempt, run in rows:
            attempt_id = ledger.record_attempt(
                host=HOST, application_id=run.application_id, **attempt
            )
            ledger.record_acknowledged(attempt_id, run)


@contextmanager
def _served(tmp_path: Path, app: str = "lab") -> Iterator[Lab]:
    """Lab (or Notebook 7) on a root with one notebook, the ledger in a private
    JOBMAGIC_HOME, the built extension linked where an installed one would be
    (share/jupyter/labextensions) and the server extension on."""
    root = tmp_path / "root"
    write_notebook(root, "analysis.ipynb", ["print('analysis')"])
    home = tmp_path / "jm-home"
    home.mkdir()
    _write_ledger(home / "ledger.sqlite3")
    scratch = tmp_path / app
    enable_jobmagic(scratch)
    env = {"HOME": str(tmp_path / "home"), "JOBMAGIC_HOME": str(home)}
    with Lab(root, scratch, env, app=app) as server:
        yield server


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[Lab]:
    with _served(tmp_path) as server:
        yield server


def _rows(page: Any) -> Any:
    return page.locator("#jobmagic-runs .jobmagic-runs-view:not([hidden]) .jobmagic-run-row")


def _wait_rows(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#jobmagic-runs .jobmagic-run-row').length === n",
        arg=count,
        timeout=30_000,
    )


def _end_run(ledger_path: Path, name: str, app: str, status: RunStatus, **fields: Any) -> None:
    with Ledger(ledger_path) as ledger:
        changed = ledger.update_runs(
            [(app, JobRun(name=name, status=status, application_id=app, **fields))]
        )
    assert changed == 1


def _settled(page: Any, selector: str) -> None:
    """Wait until every element matching ``selector`` has finished its CSS animations."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(e => e.getAnimations().length === 0)",
        arg=selector,
        timeout=30_000,
    )


def _shot(page: Any, name: str) -> None:
    folder = DOCS_IMG if os.environ.get("JOBMAGIC_UPDATE_SCREENSHOTS") == "1" else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def test_runs_panel_lists_filters_details_and_notices(lab: Lab) -> None:
    ledger_path = Path(lab.env["JOBMAGIC_HOME"]) / "ledger.sqlite3"
    with chromium_page((1280, 800)) as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        with evidence_on_failure(page, ARTIFACTS, "runs-panel"):
            page.goto(f"{lab.base}/lab?token={lab.token}&reset")
            tab = page.locator(".lm-TabBar-tab[data-id='jobmagic-runs']")
            tab.wait_for(timeout=90_000)
            # The status bar counts live runs (RUNNING + SCHEDULED) with the panel closed.
            page.wait_for_function(
                "() => document.querySelector('.jobmagic-statusbar')?.textContent === '2 live'",
                timeout=30_000,
            )
            # The setting ships with the extension (notices for every ending by default).
            default = page.evaluate(
                "async () => (await window.jupyterapp.serviceManager.settings"
                ".fetch('jobmagic:plugin')).schema.properties.notices.default"
            )
            assert default == "all"
            page.locator(".jobmagic-statusbar").click()
            _wait_rows(page, 6)

            rows = _rows(page)
            names = rows.locator(".jobmagic-run-name").all_text_contents()
            # Newest first; the sweep's two runs together, where its newest run stands.
            assert names == ["train-c1", "eval-b1", HOSTILE, "report-x", "train-a2", "train-a1"]
            sweep = page.locator(".jobmagic-run-group[data-sweep='lr-scan'] .jobmagic-run-row")
            assert sweep.count() == 2
            badges = rows.locator(".jobmagic-badge")
            assert [badges.nth(i).get_attribute("class") for i in range(6)] == [
                f"jobmagic-badge jobmagic-badge-{kind}"
                for kind in ("queued", "running", "finished", "terminated", "failed", "finished")
            ]
            assert page.locator(".jobmagic-runs-counts").text_content() == (
                "2 live · 2 finished · 1 failed · 1 terminated"
            )
            # A name that looks like HTML is text: no element was made from it, nothing ran.
            assert page.locator("#jobmagic-runs img").count() == 0
            assert page.evaluate("() => window.__jm_pwned") is None
            _shot(page, "runs-panel-light.png")

            # Filter by status: only the failed run is left.
            page.select_option(".jobmagic-filter-status", "FAILED")
            _wait_rows(page, 1)
            assert rows.first.get_attribute("data-status") == "FAILED"
            page.select_option(".jobmagic-filter-status", "LIVE")
            _wait_rows(page, 2)
            page.select_option(".jobmagic-filter-status", "")
            _wait_rows(page, 6)

            # Details: params (as text), error, exit code, times.
            rows.filter(has_text="train-a2").click()
            details = page.locator(".jobmagic-run-details")
            details.locator(".jobmagic-details-name", has_text="train-a2").wait_for()
            assert "CUDA out of memory" in details.locator(".jobmagic-details-error").inner_text()
            params = details.locator(".jobmagic-details-params").inner_text()
            assert "lr" in params and "1.0" in params and "<b>x</b>" in params
            assert details.locator(".jobmagic-details-params b").count() == 0
            meta = details.locator(".jobmagic-details-meta").inner_text()
            assert "Exit code\t1" in meta and "Sweep\tlr-scan" in meta
            # An ended run has no Terminate.
            assert details.locator(".jobmagic-terminate").count() == 0
            details.locator(".jobmagic-details-back").click()
            _wait_rows(page, 6)

            # A live run: Terminate asks first (cancelled here), and its notebook link opens it.
            rows.filter(has_text="eval-b1").click()
            details.locator(".jobmagic-details-name", has_text="eval-b1").wait_for()
            details.locator(".jobmagic-terminate").click()
            dialog = page.locator(".jp-Dialog")
            dialog.get_by_text("Terminate this run?").wait_for()
            dialog.get_by_role("button", name="Cancel").click()
            dialog.wait_for(state="detached")
            # Confirmed, the POST reaches the server (token and XSRF accepted), which has no
            # TrueFoundry credentials for this host here and says so: no 403, no trace.
            details.locator(".jobmagic-terminate").click()
            dialog.get_by_role("button", name="Terminate").click()
            refusal = details.locator(".jobmagic-details-message", has_text="Could not terminate")
            refusal.wait_for(timeout=30_000)
            assert "credentials" in refusal.inner_text() and "403" not in refusal.inner_text()
            _shot(page, "runs-details-light.png")
            details.locator(".jobmagic-notebook-link", has_text="analysis.ipynb").click()
            page.wait_for_function(
                "() => window.jupyterapp?.shell.currentWidget?.context?.path === 'analysis.ipynb'",
                timeout=60_000,
            )

            # Runs end in the ledger (written by this process, as a script's or another
            # kernel's would be): each ending gets a toast, with no notebook of theirs open.
            _end_run(
                ledger_path,
                "eval-b1",
                "app-eval",
                RunStatus.FINISHED,
                created_at=NOW - timedelta(minutes=5),
                end_time=NOW,
                exit_code=0,
            )
            toast = page.locator(".Toastify__toast", has_text="eval-b1 finished")
            toast.wait_for(timeout=30_000)
            assert "after 5m 00s" in toast.inner_text()
            _end_run(
                ledger_path,
                "train-c1",
                "app-train",
                RunStatus.FAILED,
                created_at=NOW - timedelta(minutes=1),
                end_time=NOW,
                exit_code=137,
                error="OOMKilled",
            )
            failed = page.locator(".Toastify__toast", has_text="train-c1 failed")
            failed.wait_for(timeout=30_000)
            page.wait_for_function(
                "() => document.querySelector('.jobmagic-statusbar')?.textContent === '0 live'",
                timeout=30_000,
            )
            _settled(page, ".Toastify__toast")
            _shot(page, "runs-toast-light.png")
            # The failed run's toast shows its logs: the panel opens at the run's details.
            failed.get_by_role("button", name="Show logs").click()
            details.locator(".jobmagic-details-name", has_text="train-c1").wait_for()
            details.locator(".jobmagic-details-logs").wait_for()
            assert "OOMKilled" in details.locator(".jobmagic-details-error").inner_text()

            # Dark theme: the same panel through Lab's own variables.
            details.locator(".jobmagic-details-back").click()
            _wait_rows(page, 6)
            page.evaluate(
                "() => window.jupyterapp.commands.execute("
                "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
            )
            page.wait_for_function(
                "() => document.body.dataset.jpThemeLight === 'false'"
                " && !document.querySelector('#jupyterlab-splash')",
                timeout=30_000,
            )
            _settled(page, ".Toastify__toast")
            _shot(page, "runs-panel-dark.png")
            rows.filter(has_text="train-a2").click()
            details.locator(".jobmagic-details-name", has_text="train-a2").wait_for()
            _shot(page, "runs-details-dark.png")
        assert errors == [], errors
    assert "jobmagic server extension loaded" in lab.log_path.read_text()


def test_runs_panel_in_notebook_7(tmp_path: Path) -> None:
    """Notebook 7 has a left sidebar on a notebook's page: the panel opens there."""
    with (
        _served(tmp_path, "notebook") as server,
        chromium_page() as page,
        evidence_on_failure(page, ARTIFACTS, "runs-panel-nb7"),
    ):
        page.goto(server.url("analysis.ipynb"))
        page.wait_for_function(
            "() => window.jupyterapp?.commands.hasCommand('jobmagic:open-runs')",
            timeout=90_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('jobmagic:open-runs')")
        _wait_rows(page, 6)
        assert page.locator("#jobmagic-runs").is_visible()
        _shot(page, "runs-panel-notebook7.png")
