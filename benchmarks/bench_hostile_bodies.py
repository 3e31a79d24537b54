"""How fast are hostile cell bodies accepted or refused?

Builds each kind of body at 64 KiB and at the 256 KiB limit (deep brackets open or closed,
braces, mixed, deep block nesting, a long list in flow, block and multi-line flow style, many
params, an error at the far end, one huge unclosed list, a NUL, placeholders, and a 5 MiB
body over the limit) and times ``parse_body`` on it, best of N CPU times of this thread,
against issue 12's targets: 50 ms at 64 KiB and 1 s at the limit.

Beside each figure, measured in the same run on the same body: ``yaml only``, the same parse
with the line fast path off (how every body was read before it), and ``baseline``, what
plain PyYAML takes to load the body with libyaml and dump it as JSON (``yaml.load`` with
``CSafeLoader``, then ``json.dumps``; until its error, for a body it refuses), with the ratio
of ``parse_body`` to it.

Usage::

    python benchmarks/bench_hostile_bodies.py [--repeat 5]

Exits non-zero only on an error, never because something is slow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml
from _common import Row, make_row

from jobmagic.params import MAX_BODY_BYTES, ParamsError, _lines, parse_body

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
        "long block list": "name:\n" + "  - 1\n" * ((size - 6) // 6),
        "multi-line flow list": "name: [\n" + "  1,\n" * ((size - 13) // 5) + "  2]\n",
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
        start = time.thread_time()
        try:
            params = parse_body(body, {"x": 1})
            outcome = f"accepted, {len(params):,} params"
        except ParamsError as err:
            outcome = "refused: " + str(err)[:44]
        best = min(best, time.thread_time() - start)
    return best, outcome


def yaml_only(repeat: int, body: str) -> float:
    """:func:`best_of` with the line fast path off."""
    _lines.ENABLED = False
    try:
        return best_of(repeat, body)[0]
    finally:
        _lines.ENABLED = True


def baseline(repeat: int, body: str) -> float:
    """The least CPU time of plain PyYAML with libyaml loading ``body`` and dumping JSON."""
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        with contextlib.suppress(yaml.YAMLError, RecursionError, ValueError, TypeError):
            json.dumps(yaml.load(body, Loader=loader))
        best = min(best, time.thread_time() - start)
    return best


def run(quick: bool = False, repeat: int | None = None) -> list[Row]:
    """For ``make bench``: the slowest body at each size, beside plain PyYAML on that body."""
    repeat = repeat or (1 if quick else 5)
    sizes = {4 * KIB: 0.050} if quick else TARGETS
    rows: list[Row] = []
    for size, target in sizes.items():
        slowest = max(
            ((best_of(repeat, body)[0], name, body) for name, body in bodies(size).items()),
            key=lambda item: item[0],
        )
        elapsed, name, body = slowest
        rows.append(
            make_row(
                f"hostile cell bodies at {size / KIB:.0f} KiB: the slowest ({name}) vs PyYAML",
                elapsed,
                baseline(repeat, body),
                f"≤ {target * 1000:.0f} ms",
                note="thread CPU time, best of each; the baseline is yaml.load (libyaml) + "
                "json.dumps of the same body",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timings to take the best of")
    args = parser.parse_args(argv)

    worst: dict[int, float] = {}
    for size, target in TARGETS.items():
        print(
            f"\n{size / KIB:.0f} KiB bodies, target {target * 1000:.0f} ms, best of "
            f"{args.repeat} (thread CPU ms)"
        )
        print(f"  {'body':24} {'parse':>8} {'yaml only':>10} {'baseline':>9} {'ratio':>6}")
        for name, body in bodies(size).items():
            elapsed, outcome = best_of(args.repeat, body)
            before = yaml_only(args.repeat, body)
            base = baseline(args.repeat, body)
            worst[size] = max(worst.get(size, 0.0), elapsed)
            flag = "" if elapsed <= target else " (over target)"
            print(
                f"  {name:24} {elapsed * 1000:8.1f} {before * 1000:10.1f} {base * 1000:9.1f} "
                f"{elapsed / max(base, 1e-6):6.2f}{flag}  {outcome}"
            )
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
