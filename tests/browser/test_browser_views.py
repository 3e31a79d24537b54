"""Every view of a run stays live in real JupyterLab, and what is saved or exported is true.

JupyterLab in headless Chromium against the sandbox (issue 11): a run shown as a card, in two
boards and with ``--wait`` reaches FINISHED in every view by itself; the notebook Lab saves
keeps each view's final copy; an nbclient-executed notebook reads right as nbconvert HTML
without widget JavaScript and reopened untrusted in Lab (its styles stripped). Screenshots in
light and dark go to ``artifacts/screenshots/``. Every wait is on a state, never on time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbconvert import HTMLExporter
from test_notebooks import execute_views_notebook

from jobmagic.sandbox import SandboxServer
from tests.browser.lab_support import (
    ARTIFACTS,
    Lab,
    chromium_page,
    evidence_on_failure,
    run_all_cells,
    skip_unless_browser,
    wait_for_cells_done,
    wait_for_notebook_ready,
    write_notebook,
)

pytestmark = pytest.mark.browser
WIDGET = "application/vnd.jupyter.widget-view+json"

skip_unless_browser()

#: One run in four views: its card, two boards, then a second run waited on with --wait.
#: The first run outlives the last cell: its end reaches Lab only from the tracker's thread,
#: while no cell runs — the update Lab must route by display id alone.
CELLS = [
    "%load_ext jobmagic\n%config JobMagic.poll_interval = 0.5",
    "%%trigger_job sandbox:demo:sleep -o s\nseconds: 10",
    "%job_runs --app sandbox:demo:sleep",
    "%job_runs --app sandbox:demo:sleep",
    "w = %trigger_job sandbox:demo:sleep --wait seconds=2",
]

#: True once every view in the page says its runs finished and none says otherwise.
_ALL_FINISHED_JS = """() => {
    const cards = [...document.querySelectorAll('.jobmagic-card')];
    const boards = [...document.querySelectorAll('.jobmagic-board-counts-text')];
    const lines = [...document.querySelectorAll('.jobmagic-status-line')];
    const done = t => /finished/i.test(t) && !/running|queued|created/i.test(t);
    return cards.length >= 1 && boards.length === 2 && lines.length === 1
        && cards.every(c => c.querySelector('.jobmagic-status-finished'))
        && boards.every(b => done(b.textContent))
        && lines.every(l => done(l.textContent));
}"""


def _env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    return {
        "TFY_HOST": sandbox.host,
        "TFY_API_KEY": sandbox.token,
        "JOBMAGIC_HOME": str(tmp_path / "jm"),
        "HOME": str(tmp_path / "home"),
    }


def _saved_copies(path: Path) -> list[dict[str, Any]]:
    """The bundles of every display output in a notebook file, in order."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        output["data"]
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") in ("display_data", "execute_result")
    ]


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_view_of_a_run_reaches_finished_and_lab_saves_it(tmp_path: Path, dark: bool) -> None:
    theme = "dark" if dark else "light"
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        root = tmp_path / "root"
        name = write_notebook(root, "views.ipynb", CELLS)
        with Lab(root, tmp_path / "lab", _env(sandbox, tmp_path)) as lab:
            lab.set_theme(dark)
            with chromium_page() as page, evidence_on_failure(page, ARTIFACTS, f"views-{theme}"):
                page.goto(lab.url(name))
                run_all_cells(page)
                wait_for_cells_done(page, timeout_ms=120_000)
                # Nothing is refreshed by hand: the tracker moves every view on its own.
                page.wait_for_function(_ALL_FINISHED_JS, timeout=90_000)
                shot = ARTIFACTS / f"views-{theme}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                page.wait_for_function(
                    "() => !document.querySelector('.jp-mod-dirty')", timeout=30_000
                )
    copies = _saved_copies(root / name)
    views = [c for c in copies if "jobmagic" in _joined(c.get("text/html", ""))]
    # The card, two boards and the wait line: Lab kept each one's final copy.
    assert len(views) >= 4
    for data in views:
        html, plain = _joined(data["text/html"]), _joined(data["text/plain"])
        assert "FINISHED" in html, plain
        assert "RUNNING" not in html and "CREATED" not in html
        assert "FINISHED" in plain or "finished" in plain


def test_an_executed_notebook_reads_true_without_widgets_and_untrusted(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        nb = execute_views_notebook(sandbox, monkeypatch)
        # 1. nbconvert's HTML, opened with nothing but the file: no widget manager, no CDN.
        body, _ = HTMLExporter().from_notebook_node(nb)
        export = tmp_path / "export.html"
        export.write_text(body, encoding="utf-8")
        with chromium_page() as page:
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto(export.as_uri())
            text = page.inner_text("body")
        assert "FINISHED" in text and "FAILED" in text
        assert "1 FINISHED · 1 FAILED" in text
        assert "CREATED" not in text
        # 2. The same notebook opened in Lab by someone else: untrusted, so Lab strips <style>.
        # Without the widget views (a reader with no widget manager) the static copies show.
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                output.get("data", {}).pop(WIDGET, None)
        nb.metadata.pop("widgets", None)
        root = tmp_path / "shared"
        root.mkdir()
        nbformat.write(nb, root / "shared.ipynb")
        with (
            Lab(root, tmp_path / "lab", _env(sandbox, tmp_path)) as lab,
            chromium_page() as page,
            evidence_on_failure(page, ARTIFACTS, "untrusted"),
        ):
            page.goto(lab.url("shared.ipynb"))
            wait_for_notebook_ready(page)
            outputs = page.locator(".jp-OutputArea-output")
            page.wait_for_function(
                "() => document.querySelectorAll('.jobmagic-snapshot').length >= 3",
                timeout=60_000,
            )
            assert page.locator(".jp-OutputArea-output style").count() == 0  # untrusted
            text = outputs.all_inner_texts()
            shot = ARTIFACTS / "views-untrusted.png"
            page.screenshot(path=str(shot), full_page=True)
    cards = [t for t in text if t.startswith("Run: ")]
    assert len(cards) == 2, text
    sleep_card, fail_card = cards
    # Separate, labelled facts, not "sleep-x FINISHED Open in TrueFoundry" run together.
    assert " · Status: FINISHED · Exit code: 0 · Open in TrueFoundry" in sleep_card
    assert " · Status: FAILED · Exit code: 3" in fail_card
    assert "Ended" in sleep_card and "Duration" in sleep_card
