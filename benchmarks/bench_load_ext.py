"""How much ``%load_ext jobmagic`` adds to starting a bare IPython shell.

Each trial is a fresh interpreter (imports are cached per process) timing, from its first
import, a bare ``InteractiveShell`` (the baseline) or one that then loads jobmagic; the two
alternate, and each figure is the median over ``--repeat`` trials. The loaded one also
checks that pandas, httpx and ipywidgets stay unimported.

    python benchmarks/bench_load_ext.py [--quick] [--repeat 21]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _common import Row, interleaved, make_row, median, print_rows

BASELINE = """
import time
t = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
print(time.perf_counter() - t)
"""

WITH_EXTENSION = """
import time, sys
t = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "jobmagic")
elapsed = time.perf_counter() - t
heavy = [m for m in ("pandas", "httpx", "ipywidgets") if m in sys.modules]
assert not heavy, f"load_ext imported {heavy}"
print(elapsed)
"""


def one_process(code: str) -> float:
    """The seconds ``code`` prints, run in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def run(quick: bool = False, repeat: int | None = None) -> list[Row]:
    """One row: a shell with ``%load_ext jobmagic`` against a bare one."""
    repeat = repeat or (2 if quick else 21)
    times = interleaved(
        {"bare": lambda: one_process(BASELINE), "loaded": lambda: one_process(WITH_EXTENSION)},
        repeat,
    )
    return [
        make_row(
            "%load_ext jobmagic, fresh process, vs a bare InteractiveShell",
            median(times["loaded"]),
            median(times["bare"]),
            "≤ +20 ms",
            note="pandas, httpx, ipywidgets not imported",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    print_rows(run(args.quick, args.repeat))


if __name__ == "__main__":
    main()
