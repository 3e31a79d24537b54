"""The run card in real JupyterLab, in headless Chromium, against the sandbox.

Screenshots go to ``artifacts/screenshots/`` (kept as test artifacts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobmagic.sandbox import SandboxServer
from tests.browser.lab_support import (
    ARTIFACTS,
    Lab,
    chromium_page,
    evidence_on_failure,
    run_all_cells,
    skip_unless_browser,
    wait_for_cells_done,
    write_notebook,
)

pytestmark = pytest.mark.browser

skip_unless_browser()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_card_goes_live_and_terminate_works(tmp_path: Path, dark: bool) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        root = tmp_path / "root"
        name = write_notebook(
            root,
            "card.ipynb",
            [
                "%load_ext jobmagic\n%config JobMagic.poll_interval = 0.5",
                "%%trigger_job sandbox:demo:train\nlr: 0.1\nepochs: 2",
                "%%trigger_job sandbox:demo:sleep\nseconds: 600",
                "jobmagic_form = __import__('jobmagic').TriggerForm('sandbox:demo:hello')\n"
                "jobmagic_form",
            ],
        )
        env = {
            "TFY_HOST": sandbox.host,
            "TFY_API_KEY": sandbox.token,
            "JOBMAGIC_HOME": str(tmp_path / "jm"),
            "HOME": str(tmp_path / "home"),
        }
        with Lab(root, tmp_path / "lab", env) as lab:
            lab.set_theme(dark)
            theme = "dark" if dark else "light"
            with chromium_page() as page, evidence_on_failure(page, ARTIFACTS, f"card-{theme}"):
                page.goto(lab.url(name))
                run_all_cells(page)
                wait_for_cells_done(page)
                # The two triggered cards, then the form: all rendered before going on.
                page.locator(".jobmagic-form").wait_for(timeout=60_000)
                cards = page.locator(".jobmagic-card")
                cards.nth(1).wait_for(timeout=60_000)
                train = cards.nth(0)
                train.locator(".jobmagic-status-finished").wait_for(timeout=90_000)
                assert "exit" in train.inner_text().lower()
                assert "0" in train.locator(".jobmagic-meta").first.inner_text()

                sleep = cards.nth(1)
                sleep.locator(".jobmagic-status-running").wait_for(timeout=30_000)
                sleep.locator(".jobmagic-terminate").click()
                sleep.locator(".jobmagic-confirm").click()
                sleep.locator(".jobmagic-status-terminated").wait_for(timeout=30_000)

                train.locator(".jobmagic-logs-toggle").click()
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.jobmagic-logs')]"
                    ".some(e => e.innerText.includes('epoch='))",
                    timeout=30_000,
                )

                form = page.locator(".jobmagic-form")
                form.locator(".jobmagic-trigger").click()
                form.locator(".jobmagic-form-history .jobmagic-card").first.wait_for(timeout=30_000)
                shot = ARTIFACTS / f"card-{theme}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
        runs = sandbox.runs("app-sandbox-demo-hello")
        assert len(runs) == 1  # the form's one click triggered exactly once
