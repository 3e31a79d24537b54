"""Regenerate the README's metrics figure (`docs/metrics.png`) and comparison table from real
runs on a sandbox: a grid sweep of `sandbox:demo:train`, whose runs log `loss` and
`accuracy` per epoch to their ML runs. The table is written into README.md between the
`<!-- metrics-compare -->` markers.

Run: .venv/bin/python tools/make_metrics_figure.py
"""

from __future__ import annotations

import pandas as pd
from readme_figures import ROOT, fill_readme_block, sandbox_session

import jobmagic

FIGURE = ROOT / "docs" / "metrics.png"


def main() -> None:
    with sandbox_session() as session:
        sweep = jobmagic.sweep(
            "sandbox:demo:train",
            grid={"lr": ["0.005", "0.01", "0.02", "0.05"], "epochs": ["6"]},
            concurrency=4,
            session=session,
        )
        for run in sweep:
            run.wait(timeout=60)
        table = jobmagic.compare(sweep, by="loss", client=session.client)
        figure = jobmagic.plot_metric(sweep, "loss", color_by="lr", client=session.client)

    figure.set_size_inches(7, 3.4)
    figure.savefig(FIGURE, dpi=100, bbox_inches="tight")
    with pd.option_context("display.width", 120, "display.max_columns", None):
        text_table = table.to_string()
    fill_readme_block("metrics-compare", text_table)
    print(text_table)
    print(f"wrote {FIGURE.relative_to(ROOT)} and the README's comparison")


if __name__ == "__main__":
    main()
