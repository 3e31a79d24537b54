"""Cheap checks that run before YAML sees a body: its size, and how deep its brackets nest.

Both are linear in the text and pure. They exist because PyYAML's pure-Python parser is
quadratic in the nesting depth of flow collections on one line (its scanner revisits every
open ``[``/``{`` for every token), and a body of megabytes takes seconds to read at all.
"""

from __future__ import annotations

import re
from typing import Final

from jobmagic.errors import ParamsError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "check_size",
    "check_text_size",
    "deep_flow_offset",
    "utf8_size",
]

#: The most UTF-8 bytes a cell body, a magic line or a set of params may have (256 KiB).
MAX_BODY_BYTES: Final = 256 * 1024

#: How many levels of lists and mappings a param's value may nest.
MAX_DEPTH: Final = 64

# Big enough to make the encode cheap, small enough that a huge text never doubles in memory.
_CHUNK: Final = 1 << 20
_INTERESTING_RE: Final = re.compile(r"[\[\]{}#'\"]")
_DOUBLE_QUOTED_RE: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SINGLE_QUOTED_RE: Final = re.compile(r"'[^']*(?:''[^']*)*'")
_LINE_END_RE: Final = re.compile("[\n\r\x85\u2028\u2029]")
_BLANKS: Final = " \t"
_BREAKS: Final = "\n\r\x85\u2028\u2029"
# What may come just before a node (blanks skipped): where a quote or a bracket starts one.
_NODE_LEADS: Final = frozenset("-:?,[{") | frozenset(_BREAKS)


def utf8_size(text: str) -> int:
    """The length of ``text`` in UTF-8, a lone surrogate counted as the 3 bytes it would take.

    >>> utf8_size("héllo"), utf8_size("\\ud800")
    (6, 3)
    """
    if len(text) <= _CHUNK:
        return len(text.encode("utf-8", "surrogatepass"))
    return sum(
        len(text[start : start + _CHUNK].encode("utf-8", "surrogatepass"))
        for start in range(0, len(text), _CHUNK)
    )


def check_size(size: int, what: str) -> None:
    """Raise :class:`ParamsError` if ``size`` bytes of ``what`` are over :data:`MAX_BODY_BYTES`.

    >>> check_size(300_000, "the cell body")
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: the cell body is 300,000 bytes of UTF-8, over the limit \
of 256 KiB (262,144 bytes); put large data in a file and pass its path or URL as a param
    """
    if size > MAX_BODY_BYTES:
        raise ParamsError(
            f"{what} is {size:,} bytes of UTF-8, over the limit of {MAX_BODY_BYTES // 1024} KiB "
            f"({MAX_BODY_BYTES:,} bytes); put large data in a file and pass its path or URL as "
            "a param"
        )


def check_text_size(text: str, what: str = "the cell body") -> None:
    """Refuse ``text`` over :data:`MAX_BODY_BYTES` of UTF-8 before anything parses it.

    Every entry point calls it; the magic also calls it on its line, which it splits
    before the params are read.

    >>> check_text_size("lr: 0.1")
    >>> check_text_size("x" * 300_000, "the magic line")
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: the magic line is 300,000 bytes of UTF-8, over the limit \
of 256 KiB (262,144 bytes); put large data in a file and pass its path or URL as a param
    """
    if isinstance(text, str):
        check_size(utf8_size(text), what)


def deep_flow_offset(text: str, limit: int = MAX_DEPTH) -> int | None:
    """Where the first ``[`` or ``{`` nested more than ``limit`` deep opens, if one does.

    A linear scan that skips quoted scalars and comments as YAML would, and counts a bracket
    in block context only where a value can start. It reads brackets the way YAML does in
    every ordinary body; on a contrived one it may be off, so it is only a guard in front of
    the slow parser, which still checks the depth itself.

    >>> deep_flow_offset("a: " + "[" * 3, limit=2), deep_flow_offset("a: '[[['", limit=2)
    (5, None)
    """
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = 0
    pos = 0
    while (match := _INTERESTING_RE.search(text, pos)) is not None:
        index = match.start()
        char = text[index]
        pos = index + 1
        if char in "[{":
            if depth or _starts_node(text, index):
                depth += 1
                if depth > limit:
                    return index
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "#":
            if index == 0 or text[index - 1] in _BLANKS + _BREAKS:
                end = _LINE_END_RE.search(text, index)
                pos = end.start() if end is not None else len(text)
        elif depth or _starts_node(text, index):
            quoted = (_DOUBLE_QUOTED_RE if char == '"' else _SINGLE_QUOTED_RE).match(text, index)
            if quoted is None:  # never closed: everything after it is inside the quotes
                return None
            pos = quoted.end()
    return None


def _starts_node(text: str, index: int) -> bool:
    """True if a node may start at ``index``: only blanks between it and a node lead."""
    before = index - 1
    while before >= 0 and text[before] in _BLANKS:
        before -= 1
    if before < 0:
        return True
    lead = text[before]
    if lead in "-:?" and before == index - 1:
        return False  # `a:[b` and `-[x` are plain text in block context
    return lead in _NODE_LEADS
