"""The ``flood`` demo job's program: many lines, or very long ones, as fast as it can print.

Each line starts with its number, zero-padded to eight digits, and is filled with ``x`` to
``width`` characters (the last one to ``last-width``, when given), so a reader can tell that
every line came once and in order. A line of millions of characters is written in pieces
and never held whole. Executed by path by
the sandbox (standard library only), like ``demo_programs.py``.

    $ python -u flood_program.py --lines 2 --width 12
    00000000 xxx
    00000001 xxx

>>> b"".join(line_pieces(1, 12))
b'00000001 xxx\\n'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

__all__ = ["line_pieces", "main"]

#: Long lines go out in pieces of this many bytes.
_PIECE = 1 << 20


def line_pieces(number: int, width: int) -> Iterator[bytes]:
    """Line ``number`` of ``width`` characters (its number first), newline included."""
    head = f"{number:08d} ".encode()[:width]
    yield head
    left = width - len(head)
    while left > 0:
        size = min(left, _PIECE)
        yield b"x" * size
        left -= size
    yield b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flood_program")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--width", type=int, default=80)
    parser.add_argument("--last-width", type=int, default=0, help="the last line's (0: width)")
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    batch: list[bytes] = []
    size = 0
    count = max(0, args.lines)
    for number in range(count):
        width = args.last_width if number == count - 1 and args.last_width > 0 else args.width
        for piece in line_pieces(number, max(1, width)):
            batch.append(piece)
            size += len(piece)
            if size >= _PIECE:
                out.write(b"".join(batch))
                batch, size = [], 0
    out.write(b"".join(batch))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
