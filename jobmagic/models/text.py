"""A run's text (its logs, error, events, params) as a view shows it: pure functions.

A job prints whatever bytes it likes, and a TrueFoundry server passes them on: colour
codes, terminal titles, cursor moves, NUL, BEL. In HTML they are parse errors, and saved
in a notebook or printed in a papermill log they retitle or clear the reader's terminal.
Every view therefore shows run text through one of these two functions:

* :func:`view_text` cleans it: escape sequences (ANSI colours included: every view
  shows them the same, as plain text) are removed whole; a line end is LF (CRLF and a
  lone CR, a terminal's progress-line redraw, both become LF, so nothing hides the text
  before it); other C0 controls and DEL show as their control pictures (``␀``, ``␇``);
  C1 controls, lone surrogates and noncharacters show as ``�``. Only TAB and LF remain
  of the control characters. Then it is optionally put on one line and cut to length.
* :func:`view_html` is the same text HTML-escaped: cut first, escaped after, so a cut
  never splits an entity.

>>> view_text("\\x1b[31mred\\x1b[0m and \\x1b]0;pwned\\x07NUL:\\x00 BEL:\\x07\\r\\n")
'red and NUL:␀ BEL:␇\\n'
>>> view_html("<b>&\\x1b[1mbold</b>", limit=6)
'&lt;b&gt;&amp;b…'
"""

from __future__ import annotations

import html
import re

__all__ = ["ELLIPSIS", "view_html", "view_text"]

#: What ends a text cut to length.
ELLIPSIS = "…"

# Escape sequences as ECMA-48 defines them, each matched whole, including when cut short
# (a sequence without its final byte still loses all of its bytes, never half):
#   CSI (ESC [ or 0x9B), then parameter and intermediate bytes and a final byte: colours,
#     cursor moves, erases;
#   a control string (OSC ESC ], DCS ESC P, SOS ESC X, PM ESC ^, APC ESC _, or their C1
#     bytes) up to BEL or ST (ESC \ or 0x9C): window titles, hyperlinks, clipboard writes.
#     One never left open runs to the end of its line, not of the whole log;
#   any other ESC with its intermediate bytes and final byte: ESC c (reset), ESC 7, ESC ( B;
#     a lone ESC too.
_SEQUENCE = re.compile(
    "(?:\x1b\\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    "|(?:\x1b[\\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\\\|\x9c)?"
    "|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)

# What cleaning may change: C0 but TAB and LF, DEL, C1, surrogates, noncharacters (U+FDD0 to
# U+FDEF, U+FFFE, U+FFFF; and U+nFFFE, U+nFFFF of the other planes, which the class holds as
# one range, checked by _replace: a class of 32 astral characters makes re search 10 times
# slower). Most log lines hold none of it and leave after one search.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0001fffe-\U0010ffff]"
)

# What starts an escape sequence: ESC and the C1 bytes of CSI and the control strings.
_INTRODUCER = re.compile("[\x1b\x90\x98\x9b\x9d-\x9f]")

# After sequences and line ends: one character each.
_CONTROL_PICTURE = {code: chr(0x2400 + code) for code in range(0x20) if code not in (9, 10)}
_CONTROL_PICTURE[0x7F] = "\u2421"  # ␡


def _replace(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code > 0xFFFF and code & 0xFFFE != 0xFFFE:
        return char  # an astral character that is not a noncharacter
    return _CONTROL_PICTURE.get(code, "\ufffd")


def _clean(text: str) -> str:
    if _UNSAFE.search(text) is None:
        return text
    if _INTRODUCER.search(text) is not None:
        text = _SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub(_replace, text)


def view_text(value: object, *, limit: int | None = None, one_line: bool = False) -> str:
    """``value`` (a run's log line, error, event message, param; None reads as empty) as
    plain text a view can show: no control character but TAB and LF (see the module's
    docstring for what becomes of them), on ``one_line`` (runs of whitespace, line ends
    included, become one space), cut to ``limit`` characters ending in ``…``.

    For ``text/plain`` outputs and the cell's error paragraphs; :func:`view_html` for HTML.

    >>> view_text("loss\\t0.3\\x1b[K\\x1b[2A\\x08")
    'loss\\t0.3␈'
    >>> view_text("10%\\r20%\\r30%")
    '10%\\n20%\\n30%'
    >>> view_text("failed:\\n  \\x1b[1;31mboom\\x1b[m  ", one_line=True)
    'failed: boom'
    >>> view_text("abcdef", limit=4), view_text(None)
    ('abc…', '')
    """
    text = _clean("" if value is None else str(value))
    if one_line:
        text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def view_html(value: object, *, limit: int | None = None, one_line: bool = False) -> str:
    """:func:`view_text`, then HTML-escaped (quotes too: safe in an attribute).

    >>> view_html("lr=<0.1> \\x1b]0;title\\x07\\x00")
    'lr=&lt;0.1&gt; ␀'
    """
    return html.escape(view_text(value, limit=limit, one_line=one_line), quote=True)
