"""How fast are hostile cell bodies accepted or refused?

Builds each kind of body at 64 KiB and at the 256 KiB limit (deep brackets open or closed,
braces, mixed, deep block nesting, a long flow list, many params, an error at the far end,
one huge unclosed list, a NUL, placeholders, and a 5 MiB body over the limit) and times
``parse_body`` on it, best of N CPU times, against issue 12's targets: 50 ms at 64 KiB and
1 s at the limit.

Usage::

    python benchmarks/bench_hostile_bodies.py [--repeat 3]

Exits non-zero only on an error, never because something is slow.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from jobmagic.params import MAX_BODY_BYTES, ParamsError, parse_body

KIB = 1024
TARGETS = {64 * KIB: 0.050, MAX_BODY_BYTES - 64: 1.0}


def _fill(size: int, line: Callable[[int], str], last: str = "") -> str:
    """Lines ``line(0)``, ``line(1)``… up to ``size`` characters, then ``last``."""
    out: list[str] = []
    total = len(last)
    index = 0
    while total + len(line(index)) <= size:
        out.append(line(index))
        total += len(out[-1])
        index += 1
    return "".join(out) + last


def _list_line(index: int) -> str:
    return f"k{index:06d}: [1, 2.50, abc, {{x: y}}]\n"


def bodies(size: int) -> dict[str, str]:
    """Every kind of hostile body, about ``size`` characters long."""
    levels = int((2 * size) ** 0.5) - 10  # block nesting: indents add up quadratically
    return {
        "open [ brackets": "name: " + "[" * (size - 6),
        "closed [ ] brackets": "name: " + "[" * ((size - 6) // 2) + "]" * ((size - 6) // 2),
        "open { braces": "name: " + "{" * (size - 6),
        "mixed [{a: ": "name: " + "[{a: " * ((size - 6) // 5),
        "block nesting": "".join(" " * i + "ab:\n" for i in range(levels)) + "ab: 1\n",
        "long flow list": "name: [" + "1, " * ((size - 9) // 3) + "2]",
        "many params (lists)": _fill(size, _list_line),
        "many params (scalars)": _fill(size, lambda i: f"k{i:06d}: {i}\n"),
        "error at the end": _fill(size, _list_line, "bad line\n"),
        "tab at the end": _fill(size, _list_line, "\tzz: 1\n"),
        "one list, unclosed": "name: [" + "1, " * ((size - 7) // 3),
        "NUL at the end": _fill(size, _list_line, "zz: \x00\n"),
        "one huge scalar": "name: " + "a" * (size - 6),
        "placeholders": "name: " + "{{ x }}" * ((size - 6) // 7),
        "{{ with no }}": "name: " + "{{" * ((size - 6) // 2),
    }


def best_of(repeat: int, body: str) -> tuple[float, str]:
    """The least CPU time of ``repeat`` parses, and what the parse said."""
    best = float("inf")
    outcome = ""
    for _ in range(repeat):
        start = time.process_time()
        try:
            params = parse_body(body, {"x": 1})
            outcome = f"accepted, {len(params):,} params"
        except ParamsError as err:
            outcome = "refused: " + str(err)[:60]
        best = min(best, time.process_time() - start)
    return best, outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timings to take the best of")
    args = parser.parse_args(argv)

    worst: dict[int, float] = {}
    for size, target in TARGETS.items():
        print(
            f"\n{size / KIB:.0f} KiB bodies, target {target * 1000:.0f} ms, best of {args.repeat}"
        )
        for name, body in bodies(size).items():
            elapsed, outcome = best_of(args.repeat, body)
            worst[size] = max(worst.get(size, 0.0), elapsed)
            flag = "" if elapsed <= target else "  (over target)"
            print(f"  {name:24} {elapsed * 1000:8.1f} ms{flag}  {outcome}")
    over = "name: " + "a" * (5 << 20)
    elapsed, outcome = best_of(args.repeat, over)
    print(f"\n5 MiB body over the limit  {elapsed * 1000:8.1f} ms  {outcome}")
    for size, target in TARGETS.items():
        print(
            f"worst at {size / KIB:.0f} KiB: {worst[size] * 1000:.1f} ms "
            f"(target {target * 1000:.0f} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
