"""How much ``%load_ext jobmagic`` adds to starting a bare IPython shell.

Each trial is a fresh interpreter (imports are cached per process) timing, from its first
import, a bare ``InteractiveShell`` (the baseline) or one that then loads jobmagic; the two
alternate, and each figure is the median over ``--repeat`` trials. The loaded one also
checks that pandas, httpx and ipywidgets stay unimported.

Both kinds of child read their modules from bytecode caches, as a user's kernel does: an
installed package ships (or writes on first import) its ``.pyc`` files, so no kernel
compiles jobmagic from source at every start. The environment this runs in may say
``PYTHONDONTWRITEBYTECODE=1``, and jobmagic is installed editable here, so without care
each child would compile every jobmagic module again (tens of milliseconds the baseline,
whose IPython has its caches, never pays). So the children run without that variable and
with ``PYTHONPYCACHEPREFIX`` set to a temporary directory, which keeps the source tree and
the virtualenv untouched; the untimed warm-up round, one run of each variant, writes the
caches before the first timed trial. Baseline and jobmagic get the same environment.

    python benchmarks/bench_load_ext.py [--quick] [--repeat 21]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

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


def child_env(pycache: str) -> dict[str, str]:
    """This process's environment, with bytecode caches on and kept under ``pycache``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def one_process(code: str, env: dict[str, str]) -> float:
    """The seconds ``code`` prints, run in a fresh interpreter with ``env``."""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    return float(out.strip().splitlines()[-1])


def run(quick: bool = False, repeat: int | None = None) -> list[Row]:
    """One row: a shell with ``%load_ext jobmagic`` against a bare one."""
    repeat = repeat or (2 if quick else 21)
    with tempfile.TemporaryDirectory(prefix="bench-load-ext-pycache-") as pycache:
        env = child_env(pycache)
        times = interleaved(
            {
                "bare": lambda: one_process(BASELINE, env),
                "loaded": lambda: one_process(WITH_EXTENSION, env),
            },
            repeat,
            warmup=1,  # writes the bytecode caches both variants then read
        )
    return [
        make_row(
            "%load_ext jobmagic, fresh process, vs a bare InteractiveShell",
            median(times["loaded"]),
            median(times["bare"]),
            "≤ +20 ms",
            note="pandas, httpx, ipywidgets not imported; both from bytecode caches",
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
