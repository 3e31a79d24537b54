"""Regenerate the README's DataFrame and `docs/timeline.png` from real runs on a sandbox.

A small sweep of `sandbox:demo:train`, a run that fails and one that is terminated, so the
figures show every colour a data scientist meets. The DataFrame is written into README.md
between the `<!-- runs-dataframe -->` markers.

Run: .venv/bin/python tools/make_readme_figures.py
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pandas as pd

import jobmagic
from jobmagic.config import Settings
from jobmagic.sandbox import SandboxServer
from jobmagic.session import JobSession

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TIMELINE = ROOT / "docs" / "timeline.png"
SHOWN = ["name", "status", "created_at", "duration", "exit_code", "params.lr", "params.epochs"]
MARKERS = re.compile(
    r"(<!-- runs-dataframe -->\n```text\n).*?(```\n<!-- /runs-dataframe -->)", re.S
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(Path(tmp) / "sandbox") as sandbox:
        settings = Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(Path(tmp) / "ledger.db"),
            show_cards=False,
        )
        session = JobSession(settings)
        sweep = jobmagic.sweep(
            "sandbox:demo:train",
            grid={"lr": ["0.1", "0.01", "0.001"], "epochs": ["2", "4"]},
            concurrency=3,
            session=session,
        )
        failing = jobmagic.trigger("sandbox:demo:fail", session=session)
        stopped = jobmagic.trigger(
            "sandbox:demo:train", {"lr": "1.0", "epochs": "20"}, session=session
        )
        time.sleep(1.5)
        stopped.terminate()
        runs = [*sweep, failing, stopped]
        for run in runs:
            run.wait(timeout=60)
        frame = jobmagic.runs_to_dataframe(runs)
        figure = jobmagic.plot_timeline(runs, label="lr")
        session.close()

    figure.set_size_inches(8, 3.6)
    figure.savefig(TIMELINE, dpi=100, bbox_inches="tight")
    shown = frame[SHOWN].copy()
    shown["created_at"] = shown["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    with pd.option_context("display.width", 120, "display.max_columns", None):
        table = shown.to_string()
    text = README.read_text()
    if not MARKERS.search(text):
        raise SystemExit("README.md has no <!-- runs-dataframe --> block to fill")
    README.write_text(MARKERS.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text))
    print(table)
    print(f"wrote {TIMELINE.relative_to(ROOT)} and the README's DataFrame")


if __name__ == "__main__":
    main()
