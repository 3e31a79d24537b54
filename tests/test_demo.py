"""`make demo`'s command, as the README's first line runs it: the quickstart notebook on a
sandbox of its own, headless, with its runs listed and an HTML export written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.notebook
def test_the_demo_runs_the_quickstart_end_to_end(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "JOBMAGIC_HOME": str(tmp_path / "jobmagic"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "jobmagic", "demo", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "runs triggered on the sandbox" in done.stdout
    assert "FINISHED" in done.stdout and "FAILED" in done.stdout
    assert (out / "01-quickstart.ipynb").is_file() and (out / "01-quickstart.html").is_file()
    # No kernel warnings (a TCP kernel's "without encryption", a kernel left to outlive us).
    assert "WARNING" not in done.stdout + done.stderr
