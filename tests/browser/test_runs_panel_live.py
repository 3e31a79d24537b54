"""The Runs panel live, in real JupyterLab and headless Chromium, against the real sandbox.

Two notebooks opened in Lab each trigger a run through Lab's own commands (a long ``sleep``,
a ``train``) and a separate Python process triggers a ``fail``: all three appear in the
panel. The notebooks' kernels are then shut down, so only the server extension's refresher
can tell the ledger how the runs end: the train run (held at RUNNING with SIGSTOP until the
kernels are gone, so nothing depends on timing) turns FINISHED with a toast naming it, the
script's run turns FAILED. Terminate in the panel's details, confirmed, stops the sleep run
at the sandbox, and a run's notebook link opens the notebook that triggered it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobmagic.models import RunStatus
from jobmagic.sandbox import SandboxServer
from tests.browser.lab_support import (
    ARTIFACTS,
    Lab,
    chromium_page,
    enable_jobmagic,
    evidence_on_failure,
    run_all_cells,
    skip_unless_browser,
    skip_unless_labextension,
    write_notebook,
)

pytestmark = pytest.mark.browser

skip_unless_browser()
skip_unless_labextension()

#: Bounds a hang only: every wait below is for a state.
WAIT_MS = 90_000

#: True once notebook ``p`` is Lab's current widget, every code cell has run and its kernel
#: is idle again.
_NOTEBOOK_RAN_JS = """p => {
    const w = window.jupyterapp.shell.currentWidget;
    if (!w || !w.context || w.context.path !== p || !w.content) return false;
    const code = w.content.widgets.filter(c => c.model.type === 'code');
    return code.length > 0 && code.every(c => c.model.executionCount !== null)
        && w.sessionContext.kernelDisplayStatus === 'idle';
}"""


def _until(what: str, check: Callable[[], Any], timeout: float = WAIT_MS / 1000) -> Any:
    """Poll ``check`` until it gives something true; that. A deadline bounds a hang."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)
    return found


def _open_and_run(page: Any, path: str) -> None:
    """Open notebook ``path`` in Lab and start running all its cells through Lab's
    commands; :func:`_wait_ran` waits until they are done."""
    page.evaluate("p => window.jupyterapp.commands.execute('docmanager:open', {path: p})", path)
    page.wait_for_function(
        "p => window.jupyterapp.shell.currentWidget?.context?.path === p", arg=path
    )
    run_all_cells(page)


def _wait_ran(page: Any, path: str) -> None:
    page.wait_for_function(_NOTEBOOK_RAN_JS, arg=path, timeout=WAIT_MS)


def _only_run(sandbox: SandboxServer, job: str) -> str:
    """The name of the one run of demo job ``job`` at the (fresh) sandbox."""
    runs = _until(f"a {job} run at the sandbox", lambda: sandbox.runs(f"app-sandbox-demo-{job}"))
    assert len(runs) == 1, runs
    return str(runs[0]["name"])


def _hold(sandbox: SandboxServer, job: str) -> tuple[str, int]:
    """Stop the process of ``job``'s one run (SIGSTOP): it stays RUNNING at the sandbox
    until :func:`os.kill` sends SIGCONT. Its name and pid."""
    name = _only_run(sandbox, job)
    app = f"app-sandbox-demo-{job}"
    pid = int(_until(f"{name}'s process", lambda: sandbox.run_pid(app, name)))
    os.kill(pid, signal.SIGSTOP)
    # 'T': stopped, so it has not ended (a run shorter than this wait would fail loudly here).
    _until(f"{name} stopped", lambda: _process_state(pid) == "T")
    assert (sandbox.get_run(app, name) or {}).get("status") == "RUNNING"
    return name, pid


def _process_state(pid: int) -> str:
    """The one-letter state of process ``pid`` (/proc/PID/stat), '' when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def _script_trigger(env: dict[str, str], target: str) -> tuple[str, str]:
    """Trigger ``target`` from a separate Python process; the run's name and its status as
    that process recorded it before exiting."""
    code = (
        "import sys, jobmagic\nrun = jobmagic.trigger(sys.argv[1])\nprint(run.name, run.status)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, target],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    name, status = out.stdout.split()
    return name, status


def _sandbox_status(sandbox: SandboxServer, job: str, name: str) -> str:
    """A run's status as the sandbox's HTTP API tells it."""
    answer = httpx.get(
        f"{sandbox.api_url}/jobs/app-sandbox-demo-{job}/runs/{name}",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        trust_env=False,
        timeout=10.0,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["status"])


def _kernels(lab: Lab) -> list[Any]:
    answer = httpx.get(f"{lab.base}/api/kernels", params={"token": lab.token}, trust_env=False)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _row(page: Any, name: str) -> Any:
    """The panel's row of run ``name``."""
    return page.locator("#jobmagic-runs .jobmagic-run-row").filter(
        has=page.locator(".jobmagic-run-name").get_by_text(name, exact=True)
    )


def test_runs_from_notebooks_and_a_script_live_in_the_panel(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    root = tmp_path / "root"
    write_notebook(
        root, "a.ipynb", ["%load_ext jobmagic", "%%trigger_job sandbox:demo:sleep\nseconds: 600"]
    )
    write_notebook(
        root,
        "b.ipynb",
        ["%load_ext jobmagic", "%%trigger_job sandbox:demo:train\nlr: 0.1\nepochs: 12"],
    )
    held: int | None = None
    with SandboxServer(tmp_path / "sandbox", grace_period=1.0) as sandbox:
        env = {
            "TFY_HOST": sandbox.host,
            "TFY_API_KEY": sandbox.token,
            "JOBMAGIC_HOME": str(tmp_path / "jm"),
            "HOME": str(tmp_path / "home"),
        }
        scratch = tmp_path / "lab"
        enable_jobmagic(scratch, {"JobmagicServer": {"refresh_interval": 0.5}})
        try:
            with (
                Lab(root, scratch, env) as lab,
                chromium_page((1280, 800)) as page,
                evidence_on_failure(page, ARTIFACTS, "runs-panel-live"),
            ):
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(f"{lab.base}/lab?token={lab.token}&reset")
                page.wait_for_function(
                    "() => window.jupyterapp?.commands.hasCommand('jobmagic:open-runs')",
                    timeout=WAIT_MS,
                )
                # Once Lab has restored its layout (which would fold the sidebar back).
                page.evaluate(
                    "async () => { await window.jupyterapp.restored;"
                    " await window.jupyterapp.commands.execute('jobmagic:open-runs'); }"
                )
                page.locator("#jobmagic-runs").wait_for(timeout=WAIT_MS)

                # Two notebooks, each triggering a run from its kernel.
                _open_and_run(page, "a.ipynb")
                _wait_ran(page, "a.ipynb")
                sleep = _only_run(sandbox, "sleep")
                _open_and_run(page, "b.ipynb")
                train, held = _hold(sandbox, "train")  # at once: it runs for 6 s
                _wait_ran(page, "b.ipynb")
                for name in (sleep, train):
                    expect(_row(page, name)).to_have_attribute(
                        "data-status", "RUNNING", timeout=WAIT_MS
                    )

                # The kernels go: from now on no kernel can refresh anything.
                page.evaluate(
                    "async () => { await window.jupyterapp.serviceManager.sessions.shutdownAll(); }"
                )
                _until("no kernel left", lambda: _kernels(lab) == [])

                # A script's run, with no kernel ever knowing of it.
                failing, recorded = _script_trigger(env, "sandbox:demo:fail")
                assert not RunStatus(recorded).is_terminal, recorded  # only the server ends it
                expect(_row(page, failing)).to_have_attribute(
                    "data-status", "FAILED", timeout=WAIT_MS
                )

                # The held train run ends: the refresher sees it, the panel and a toast say so.
                expect(_row(page, train)).to_have_attribute("data-status", "RUNNING")
                os.kill(held, signal.SIGCONT)
                held = None
                expect(_row(page, train)).to_have_attribute(
                    "data-status", "FINISHED", timeout=WAIT_MS
                )
                page.locator(".Toastify__toast", has_text=f"{train} finished").wait_for(
                    timeout=WAIT_MS
                )
                assert _kernels(lab) == []

                # Close the notebooks (their kernels are gone), so a link must open one.
                page.evaluate(
                    """() => { for (const w of [...window.jupyterapp.shell.widgets('main')]) {
                        if (w.context) { w.context.model.dirty = false; }
                        w.dispose();
                    } }"""
                )
                page.wait_for_function(
                    "() => !document.querySelector('.jp-NotebookPanel')", timeout=WAIT_MS
                )
                details = page.locator(".jobmagic-run-details")
                _row(page, train).click()
                details.locator(".jobmagic-details-name", has_text=train).wait_for()
                expect(details.locator(".jobmagic-notebook-link")).to_have_text("b.ipynb")
                details.locator(".jobmagic-details-back").click()

                # Terminate from the details, confirmed: the sandbox stops the run.
                _row(page, sleep).click()
                details.locator(".jobmagic-details-name", has_text=sleep).wait_for()
                details.locator(".jobmagic-terminate").click()
                dialog = page.locator(".jp-Dialog")
                dialog.get_by_text("Terminate this run?").wait_for()
                dialog.get_by_role("button", name="Terminate").click()
                details.locator(".jobmagic-details-message", has_text="Termination of").wait_for(
                    timeout=WAIT_MS
                )
                _until(
                    f"{sleep} TERMINATED at the sandbox",
                    lambda: _sandbox_status(sandbox, "sleep", sleep) == "TERMINATED",
                )
                expect(details.locator(".jobmagic-details-heading .jobmagic-badge")).to_have_text(
                    "TERMINATED", timeout=WAIT_MS
                )
                page.locator(".Toastify__toast", has_text=f"{sleep} terminated").wait_for(
                    timeout=WAIT_MS
                )

                # Its notebook link opens the notebook that triggered it.
                details.locator(".jobmagic-notebook-link", has_text="a.ipynb").click()
                page.wait_for_function(
                    "() => window.jupyterapp.shell.currentWidget?.context?.path === 'a.ipynb'",
                    timeout=WAIT_MS,
                )
                page.locator(".jp-NotebookPanel .jp-Cell", has_text="sandbox:demo:sleep").wait_for(
                    timeout=WAIT_MS
                )
                assert errors == [], errors
        finally:
            if held is not None:  # a failure while held: let the sandbox stop it
                os.kill(held, signal.SIGCONT)
