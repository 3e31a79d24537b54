"""How much ``%load_ext jobmagic`` adds to starting a bare IPython shell.

Each variant runs in a fresh interpreter (imports are cached per process), best of N.
Prints absolute times and the ratio against the bare-IPython baseline measured in this run.

    python benchmarks/bench_load_ext.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

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


def best_of(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = best_of(BASELINE, args.repeat)
    loaded = best_of(WITH_EXTENSION, args.repeat)
    print(f"bare IPython shell:              {base * 1000:7.1f} ms")
    print(f"IPython shell + %load_ext:       {loaded * 1000:7.1f} ms")
    print(f"%load_ext jobmagic adds:         {(loaded - base) * 1000:7.1f} ms")
    print(f"load_ext / bare IPython = {loaded / base:.2f}x")


if __name__ == "__main__":
    main()
