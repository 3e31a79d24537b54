"""The card's "Run again" in real JupyterLab (headless Chromium) against the sandbox.

A run's card opens its params in an inline form; Trigger starts a new run whose card says
"rerun of <the first run>", and the server receives the first run's params with the edit.
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
TRAIN_APP = "app-sandbox-demo-train"

skip_unless_browser()


def test_run_again_on_a_card_triggers_a_run_whose_card_says_rerun_of(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with SandboxServer(tmp_path / "sandbox") as sandbox:
        root = tmp_path / "root"
        name = write_notebook(
            root,
            "rerun.ipynb",
            [
                "%load_ext jobmagic\n%config JobMagic.poll_interval = 0.5",
                "%%trigger_job sandbox:demo:train\nlr: 0.1\nepochs: 1",
            ],
        )
        env = {
            "TFY_HOST": sandbox.host,
            "TFY_API_KEY": sandbox.token,
            "JOBMAGIC_HOME": str(tmp_path / "jm"),
            "HOME": str(tmp_path / "home"),
        }
        with (
            Lab(root, tmp_path / "lab", env) as lab,
            chromium_page() as page,
            evidence_on_failure(page, ARTIFACTS, "rerun"),
        ):
            page.goto(lab.url(name))
            run_all_cells(page)
            wait_for_cells_done(page)
            card = page.locator(".jobmagic-card").first
            card.locator(".jobmagic-status-finished").wait_for(timeout=90_000)
            (first,) = [run["name"] for run in sandbox.runs(TRAIN_APP)]

            card.locator(".jobmagic-rerun").click()
            form = card.locator(".jobmagic-rerun-box .jobmagic-form")
            form.wait_for(timeout=30_000)
            lr = form.locator(".jobmagic-field-lr input")
            assert lr.input_value() == "0.1"
            lr.fill("0.3")
            lr.press("Tab")  # the text widget sends its value on change
            form.locator(".jobmagic-trigger").click()

            # Under the first run's card, not inside its box (nor in the form).
            rerun_card = page.locator(".jobmagic-card-output .jobmagic-reruns .jobmagic-card").first
            rerun_card.wait_for(timeout=30_000)
            label = rerun_card.locator(".jobmagic-rerun-of")
            label.wait_for(timeout=30_000)
            assert f"rerun of {first}" in label.inner_text()
            rerun_card.locator(".jobmagic-status-finished").wait_for(timeout=90_000)
            page.screenshot(path=str(ARTIFACTS / "rerun.png"), full_page=True)

        runs = {run["name"]: run for run in sandbox.runs(TRAIN_APP)}
        assert len(runs) == 2  # one click, one new run
        (second,) = set(runs) - {first}
        assert runs[second]["command"].endswith("--lr=0.3 --epochs=1")
        assert runs[first]["command"].endswith("--lr=0.1 --epochs=1")
