"""A saved notebook read without widget JavaScript still shows the run (nbconvert HTML)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook

from jobmagic.sandbox import SandboxServer
from tests.browser.lab_support import browser_missing_reason, chromium_page

pytestmark = pytest.mark.browser

_missing = browser_missing_reason()
if _missing and os.environ.get("JOBMAGIC_REQUIRE_BROWSER"):
    raise RuntimeError(f"browser tests are required here but cannot run: {_missing}")
if _missing:
    pytest.skip(_missing, allow_module_level=True)


def test_exported_html_shows_name_and_status_without_widget_js(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        monkeypatch.setenv("TFY_HOST", sandbox.host)
        monkeypatch.setenv("TFY_API_KEY", sandbox.token)
        monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
        nb = new_notebook(
            cells=[
                new_code_cell("%load_ext jobmagic"),
                new_code_cell("run = %trigger_job sandbox:demo:hello name=Ada\nrun.wait(60)\nrun"),
            ]
        )
        NotebookClient(nb, kernel_name="python3", timeout=90, store_widget_state=True).execute()
    # The card's static copy (the output before its widget's, whose text is empty).
    name = nb.cells[1].outputs[-2]["data"]["text/plain"].split()[1]
    body, _ = HTMLExporter().from_notebook_node(nb)
    page_path = tmp_path / "export.html"
    page_path.write_text(body, encoding="utf-8")
    with chromium_page() as page:
        # Nothing but the file itself loads: no widget manager, no CDN.
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        page.goto(page_path.as_uri())
        text = page.inner_text("body")
    assert name in text
    assert "FINISHED" in text
