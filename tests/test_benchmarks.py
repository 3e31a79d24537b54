"""The benchmarks at a tiny size: each module's ``run(quick=True)`` gives well-formed rows.

Nothing here is timed: the figures are only checked to be positive numbers whose ratio is
jobmagic's over the baseline's. Each module runs in its own interpreter, through the
aggregator's own path (``run_all.run_module``), so this also checks what ``make bench`` does.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402
from _common import (  # noqa: E402
    Row,
    failed_row,
    format_table,
    interleaved,
    make_row,
    row_problems,
    target_met,
)

MODULES = sorted(path.stem for path in BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_each_benchmark_gives_well_formed_rows_at_a_tiny_size(name: str) -> None:
    reason = run_all.unavailable(name)
    if reason:
        pytest.skip(f"{name} cannot run here: {reason}")
    rows = run_all.run_module(name, quick=True)
    assert rows
    assert [row.get("error") for row in rows] == [None] * len(rows)
    for row in rows:
        assert row_problems(row) == [], row
        assert math.isclose(row["ratio"], row["jobmagic_s"] / row["baseline_s"])


def test_the_aggregator_lists_every_benchmark_module_here() -> None:
    assert set(MODULES) <= set(run_all.MODULES)


def test_a_missing_module_is_one_failed_row_not_a_lost_table() -> None:
    [row] = run_all.run_module("bench_no_such_module", quick=True)
    assert row["what"] == "bench_no_such_module" and row["error"] == "module missing"
    assert target_met(row) is False
    assert "FAILED" in format_table([row])


def test_row_problems_names_what_is_wrong() -> None:
    good = make_row("x", 2.0, 1.0, "≤ 1.2x")
    assert row_problems(good) == [] and good["ratio"] == 2.0
    assert row_problems({**good, "ratio": 3.0}) == ["ratio 3.0 is not jobmagic_s / baseline_s"]
    assert row_problems({**good, "baseline_s": 0.0}) == [
        "baseline_s must be a positive number, not 0.0"
    ]
    assert row_problems({"what": "x"}) == [
        "jobmagic_s is missing",
        "baseline_s is missing",
        "ratio is missing",
        "target is missing",
    ]
    assert row_problems(failed_row("bench_x", "exited with code 1")) == []


@pytest.mark.parametrize(
    ("jobmagic", "baseline", "target", "unit", "met"),
    [
        (1.1, 1.0, "≤ 1.2x", "s", True),
        (1.3, 1.0, "<= 1.2x", "s", False),
        (0.190, 0.172, "≤ +20 ms", "s", True),
        (0.200, 0.172, "≤ +20 ms", "s", False),
        (0.049, 1.0, "≤ 50 ms", "s", True),
        (0.051, 0.001, "≤ 50 ms", "s", False),
        (99.0, 300.0, "≤ 100 MB", "MB", True),
        (650.0, 430.0, "≥ 600 /s", "/s", True),
        (3.0, 1.0, "≤ 2 calls", "calls", False),
        (1.0, 1.0, "≤ 1,000 ms", "s", True),
        (1.0, 1.0, "", "s", None),
        (1.0, 1.0, "about as fast", "s", None),
    ],
)
def test_target_met_reads_ratio_added_and_absolute_bounds(
    jobmagic: float, baseline: float, target: str, unit: str, met: bool | None
) -> None:
    assert target_met(make_row("x", jobmagic, baseline, target, unit=unit)) is met


def test_a_row_that_says_it_missed_wins_over_its_figures() -> None:
    row: Row = make_row("exit", 0.1, 0.01, "≤ 1 s")
    row["met"] = False
    assert target_met(row) is False


def test_interleaved_rotates_the_order_and_drops_the_warmup() -> None:
    calls: list[str] = []

    def variant(name: str, seconds: float) -> Callable[[], float]:
        def call() -> float:
            calls.append(name)
            return seconds

        return call

    times = interleaved({"a": variant("a", 1.0), "b": variant("b", 2.0)}, 3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert times == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_the_readme_block_shows_the_machine_and_the_table() -> None:
    results = {
        "machine": {
            "cores": 2,
            "cpu": "Some CPU",
            "ram_gb": 8.0,
            "python": "3.11.7",
            "os": "Linux",
            "date": "2026-12-01 12:00 UTC",
        },
        "quick": False,
        "rows": [
            {**make_row("one trigger", 0.0035, 0.0030, "≤ 1.2x")},
            {**failed_row("bench_x", "exited with code 1"), "jobmagic_s": None},
        ],
    }
    text = run_all.readme_text(results)
    first, _, table = text.partition("\n\n")
    assert (
        first
        == "2 cores (Some CPU), 8.0 GB RAM, Python 3.11.7, Linux, 2026-12-01 12:00 UTC; full sizes"
    )
    lines = table.splitlines()
    assert lines[0].split(" | ")[0].strip() == "what"
    assert [cell.strip() for cell in lines[2].split("|")] == [
        "one trigger",
        "3.5 ms",
        "3.0 ms",
        "1.17x",
        "≤ 1.2x",
        "yes",
    ]
    assert lines[3].split("|")[-1].strip() == "FAILED"
