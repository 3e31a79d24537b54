"""Regenerate the README's DataFrame and `docs/timeline.png` from real runs on a sandbox.

A small sweep of `sandbox:demo:train`, a run that fails and one that is terminated, so the
figures show every colour a data scientist meets. The DataFrame is written into README.md
between the `<!-- runs-dataframe -->` markers.

Run: .venv/bin/python tools/make_readme_figures.py
"""

from __future__ import annotations

import time

import pandas as pd
from readme_figures import ROOT, fill_readme_block, sandbox_session

import jobmagic

TIMELINE = ROOT / "docs" / "timeline.png"
SHOWN = ["name", "status", "created_at", "duration", "exit_code", "params.lr", "params.epochs"]


def main() -> None:
    with sandbox_session() as session:
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

    figure.set_size_inches(8, 3.6)
    figure.savefig(TIMELINE, dpi=100, bbox_inches="tight")
    shown = frame[SHOWN].copy()
    shown["created_at"] = shown["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    with pd.option_context("display.width", 120, "display.max_columns", None):
        table = shown.to_string()
    fill_readme_block("runs-dataframe", table)
    print(table)
    print(f"wrote {TIMELINE.relative_to(ROOT)} and the README's DataFrame")


if __name__ == "__main__":
    main()
