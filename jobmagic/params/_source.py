"""The user's text and where things are in it: lines and columns as PyYAML counts them.

Every error points into the text the user wrote, counted from the body's first line (2 in a
cell, under the magic), and quotes the user's characters, never what YAML was given (which
holds placeholder sentinels).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any, Final

from jobmagic.errors import ParamsError

__all__ = [
    "BREAK_RE",
    "LINE_BREAK_RE",
    "SURROGATE_RE",
    "Mark",
    "Source",
    "row_column",
    "short",
]

# The line breaks PyYAML knows (YAML 1.1).
BREAK_RE: Final = re.compile("[\n\r\x85\u2028\u2029]")
LINE_BREAK_RE: Final = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Mark:
    """Where PyYAML would point: 0-based, like ``yaml.Mark``."""

    index: int
    line: int
    column: int


def short(text: str, limit: int = 40) -> str:
    """``text`` for a one-line message: control characters escaped, long text cut.

    >>> short("a\\tb"), short("x" * 50, limit=5)
    ('a\\\\tb', 'xxxx…')
    """
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def row_column(text: str, offset: int) -> tuple[int, int]:
    """0-based (line, column) of ``offset``, as PyYAML counts them (see :meth:`Source.position`).

    >>> row_column("ab\\ncd", 4)
    (1, 1)
    """
    row = 0
    start = 0
    for match in LINE_BREAK_RE.finditer(text, 0, offset):
        row += 1
        start = match.end()
    return row, offset - start - text.count("\ufeff", start, offset)


class Source:
    """The body as the user wrote it, and the number of its first line."""

    def __init__(self, text: str, first_line: int = 1) -> None:
        self.text = text
        self.first_line = first_line
        self._line_starts: list[int] | None = None

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset, counted the way PyYAML counts.

        >>> Source("ab\\ncd", first_line=2).position(4)
        (3, 2)
        """
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in LINE_BREAK_RE.finditer(self.text)]
        row = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[row]
        # PyYAML's reader does not advance the column over a byte-order mark.
        column = offset - start - self.text.count("\ufeff", start, offset) + 1
        return row + self.first_line, column

    def error_at(self, offset: int, message: str) -> ParamsError:
        """A :class:`ParamsError` pointing at ``offset``."""
        line, column = self.position(offset)
        return ParamsError(message, line=line, column=column)

    def mark_error(self, mark: Any, message: str) -> ParamsError:
        """A :class:`ParamsError` at a YAML mark (0-based line and column), or at none."""
        if mark is None:
            return ParamsError(message)
        return ParamsError(message, line=mark.line + self.first_line, column=mark.column + 1)

    def written_at(self, offset: int, stop: str = " \t\r\n\x85\u2028\u2029,[]{}") -> str:
        """The token the user wrote at ``offset`` (for messages), up to ``stop``."""
        text = self.text
        end = offset
        while end < len(text) and text[end] not in stop:
            end += 1
        return short(text[offset:end])

    def char_at(self, mark: Any, ahead: int = 0, *, raw: bool = False) -> str:
        """The user's character at ``mark`` (escaped for a message unless ``raw``)."""
        if mark is None:
            return ""
        index = mark.index + ahead
        if not 0 <= index < len(self.text):
            return ""
        ch = self.text[index]
        return ch if raw or ch.isprintable() else repr(ch)[1:-1]

    def before(self, mark: Any) -> str:
        """The last non-blank character before ``mark`` on its line."""
        if mark is None:
            return ""
        index = min(mark.index, len(self.text)) - 1
        while index >= 0 and self.text[index] in " \t":
            index -= 1
        return self.text[index] if index >= 0 else ""

    def back(self, mark: Any, char: str) -> Mark:
        """``mark`` moved back to the nearest ``char`` on its line (for escapes)."""
        index = min(mark.index, len(self.text) - 1)
        column = mark.column - (mark.index - index)
        while column > 0 and index > 0 and self.text[index] != char:
            index, column = index - 1, column - 1
        return Mark(max(index, 0), mark.line, max(column, 0))
