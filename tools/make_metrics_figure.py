"""Regenerate the README's metrics figure (`docs/metrics.png`) and comparison table from real
runs on a sandbox: a grid sweep of `sandbox:demo:train`, whose runs log `loss` and
`accuracy` per epoch to their ML runs. The table is written into README.md between the
`<!-- metrics-compare -->` markers.

Run: .venv/bin/python tools/make_metrics_figure.py
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd

import jobmagic
from jobmagic.config import Settings
from jobmagic.sandbox import SandboxServer
from jobmagic.session import JobSession

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIGURE = ROOT / "docs" / "metrics.png"
MARKERS = re.compile(
    r"(<!-- metrics-compare -->\n```text\n).*?(```\n<!-- /metrics-compare -->)", re.S
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
            grid={"lr": ["0.005", "0.01", "0.02", "0.05"], "epochs": ["6"]},
            concurrency=4,
            session=session,
        )
        for run in sweep:
            run.wait(timeout=60)
        table = jobmagic.compare(sweep, by="loss", client=session.client)
        figure = jobmagic.plot_metric(sweep, "loss", color_by="lr", client=session.client)
        session.close()

    figure.set_size_inches(7, 3.4)
    figure.savefig(FIGURE, dpi=100, bbox_inches="tight")
    with pd.option_context("display.width", 120, "display.max_columns", None):
        text_table = table.to_string()
    text = README.read_text()
    if not MARKERS.search(text):
        raise SystemExit("README.md has no <!-- metrics-compare --> block to fill")
    README.write_text(MARKERS.sub(lambda m: m.group(1) + text_table + "\n" + m.group(2), text))
    print(text_table)
    print(f"wrote {FIGURE.relative_to(ROOT)} and the README's comparison")


if __name__ == "__main__":
    main()
