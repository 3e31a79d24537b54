"""A run's logs, a page at a time: where a page starts (:class:`LogCursor`), one page
(:class:`LogPage`), and how large the next page may be (:func:`next_page_lines`).

``GET /logs`` pages by time: ``startTs`` (inclusive, nanoseconds), ``limit`` lines, and
``numLogsToIgnore`` — how many lines *at* ``startTs`` to skip, those a client has already
read. Several lines can share one timestamp, so "the time of the last line + 1" would drop
the rest of them and "the time of the last line" would repeat it; the pair does neither.
All here is pure: the clients send, this decides what to ask next.

>>> a, b, c = (LogLine(x, "stdout", t) for x, t in (("a", 5), ("b", 7), ("c", 7)))
>>> first = LogPage((a, b), since=None, limit=2)
>>> first.next
LogCursor(time_ns=7, skip=1)
>>> LogPage((c,), since=first.next, limit=2).next   # c shares b's time: skip both now
LogCursor(time_ns=7, skip=2)
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from jobmagic.models import LogLine
from jobmagic.models.text import view_text

__all__ = [
    "FIRST_PAGE_LINES",
    "MAX_PAGE_LINES",
    "PAGE_BUDGET_CHARS",
    "LogCursor",
    "LogPage",
    "advance",
    "advance_tail",
    "next_page_lines",
]

# The API sizes a page in lines, not bytes, and a line can be long (the sandbox cuts at
# 64 KiB, container runtimes at 16 KiB, some servers never). Two things keep a page near
# the budget: the client reads an answer's lines only until they hold the budget (the
# rest is left unread: ``budget=`` of ``client.logs``), and a walk asks for as many lines
# as fit the budget if each is as long as the longest seen, so that cut is rare.

#: What one page may hold, in characters of the answer's lines as JSON (their text and a
#: few dozen more each), plus one line, never cut: what bounds a follower's memory,
#: whatever the log's size or its lines' length.
PAGE_BUDGET_CHARS = 1 << 20
#: The most lines one page asks for, however short they are.
MAX_PAGE_LINES = 1000
#: The first page of a walk, before the lines' length is known: small enough that even
#: lines as long as a server keeps (the sandbox cuts at 64 KiB) fit the budget.
FIRST_PAGE_LINES = 16

#: What a line's JSON holds besides its text: ``{"log": "", "stream": …, "time": …}``.
_LINE_JSON_CHARS = 100

#: Rows a page's text and HTML show: the first and last half of these, like pandas.
_SHOWN_ROWS = 10
_SHOWN_CHARS = 100


@dataclass(frozen=True)
class LogCursor:
    """Where a page of logs starts: at ``time_ns`` (inclusive), skipping the first ``skip``
    lines of that time (``startTs`` and ``numLogsToIgnore``). A page's :attr:`LogPage.next`
    is the cursor just after its last line.

    >>> LogCursor(1_700_000_000_000_000_000, skip=2)
    LogCursor(time_ns=1700000000000000000, skip=2)
    """

    time_ns: int
    skip: int = 0


def advance(since: LogCursor | None, lines: Sequence[LogLine]) -> LogCursor | None:
    """The cursor after ``lines`` (oldest first), read from ``since``.

    The lines at the last line's time are counted, plus those ``since`` already skipped
    when every line of the page shares its time. Lines without a time (a server that sends
    none) cannot be placed: they are skipped by count from ``since``.

    >>> advance(LogCursor(7, 1), [LogLine("x", None, 7), LogLine("y", None, 7)])
    LogCursor(time_ns=7, skip=3)
    >>> advance(LogCursor(7, 1), [LogLine("x", None, 7), LogLine("y", None, 9)])
    LogCursor(time_ns=9, skip=1)
    >>> advance(None, []) is None
    True
    """
    if not lines:
        return since
    last = lines[-1].time_ns
    if last is None:
        start = since.time_ns if since is not None else 0
        return LogCursor(start, (since.skip if since is not None else 0) + len(lines))
    same = 0
    for line in reversed(lines):
        if line.time_ns != last:
            break
        same += 1
    if same == len(lines) and since is not None and since.time_ns == last:
        same += since.skip
    return LogCursor(last, same)


def advance_tail(lines: Sequence[LogLine], *, full: bool) -> LogCursor | None:
    """The cursor after a tail (the newest lines, oldest first).

    A tail that holds older lines too holds every line of its newest time. A full tail of
    one time may have missed older lines of that time, whose number is unknown: the cursor
    then starts after that time (a line stamped with it later is not followed).

    >>> advance_tail([LogLine("x", None, 5), LogLine("y", None, 7)], full=True)
    LogCursor(time_ns=7, skip=1)
    >>> advance_tail([LogLine("x", None, 7)], full=True)
    LogCursor(time_ns=8, skip=0)
    """
    cursor = advance(None, lines)
    if cursor is not None and full and cursor.skip == len(lines) and lines[-1].time_ns:
        return LogCursor(cursor.time_ns + 1, 0)
    return cursor


def next_page_lines(
    limit: int, lines: Sequence[LogLine], *, budget: int = PAGE_BUDGET_CHARS
) -> int:
    """How many lines to ask for after a page of ``lines`` asked with ``limit``.

    As many as fit ``budget`` characters if each is as long as the longest seen, at most
    twice ``limit`` (pages grow step by step from a small first one) and at most
    :data:`MAX_PAGE_LINES`; never fewer than one.

    >>> next_page_lines(16, [LogLine("x" * 1024)])
    32
    >>> next_page_lines(1000, [LogLine("x" * 1024)]), next_page_lines(1000, [LogLine("x" * 65536)])
    (699, 11)
    >>> next_page_lines(1000, [LogLine("x" * 50_000_000)])
    1
    """
    longest = max((len(line.log) for line in lines), default=0)
    # A line's JSON is its text and its other fields (about 60 characters); aiming a
    # quarter below the budget keeps the client's cut at the budget (a dropped
    # connection) for pages with longer lines than the last.
    fits = (budget - budget // 4) // (longest + _LINE_JSON_CHARS)
    return max(1, min(fits, limit * 2, MAX_PAGE_LINES))


class LogPage(list[LogLine]):
    """One page of a run's log lines, oldest first, and where the next page starts.

    A list of :class:`~jobmagic.models.LogLine` (read it, do not change it: ``next`` is
    where the server's lines after it start); ``page.next`` is the cursor to pass as
    ``since=`` for the lines after it, and ``page.full`` says the server gave as many
    lines as were asked, so more may be waiting. Shown as a short table.

    >>> page = LogPage((LogLine("hello", "stdout", 1_765_101_600_000_000_000),), limit=5)
    >>> page
    <LogPage: 1 line>
                                 time  stream  log
    0  2025-12-07 10:00:00.000000000Z  stdout  hello
    >>> page[-1].log, len(page), page.full, page == [page[0]]
    ('hello', 1, False, True)
    """

    __slots__ = ("full", "next", "tail")

    def __init__(
        self,
        lines: Iterable[LogLine] = (),
        *,
        since: LogCursor | None = None,
        limit: int | None = None,
        tail: bool = False,
        cut: bool = False,
    ) -> None:
        super().__init__(lines)
        #: The server gave ``limit`` lines, or more than the budget was left unread
        #: (``cut``): there may be more now.
        self.full = cut or (limit is not None and len(self) >= limit)
        #: Whether this page is the newest lines (a tail) rather than a page from a cursor.
        self.tail = tail
        #: Where the lines after this page start (``since=`` of the next call).
        self.next: LogCursor | None = (
            advance_tail(self, full=self.full) if tail else advance(since, self)
        )

    def text(self) -> str:
        """The lines' text, one per line, as the run printed them.

        >>> LogPage((LogLine("a"), LogLine("b"))).text()
        'a\\nb'
        """
        return "\n".join(line.log for line in self)

    # -- display -----------------------------------------------------------------------

    def _title(self) -> str:
        count = len(self)
        words = f"{count} line{'s' if count != 1 else ''}"
        if self.full and not self.tail:
            words += "; more after it: logs(since=page.next)"
        return f"LogPage: {words}"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        """(index, time, stream, log) of the rows shown; ``...`` where rows are left out."""
        count = len(self)
        half = _SHOWN_ROWS // 2
        if count <= _SHOWN_ROWS:
            shown: list[int | None] = list(range(count))
        else:
            shown = [*range(half), None, *range(count - half, count)]
        return [
            ("...", "...", "...", "...")
            if index is None
            else (
                str(index),
                _time_text(self[index]),
                view_text(self[index].stream or "", limit=12, one_line=True),
                view_text(self[index].log.rstrip("\n"), limit=_SHOWN_CHARS, one_line=True),
            )
            for index in shown
        ]

    def __repr__(self) -> str:
        rows = self._rows()
        if not rows:
            return f"<{self._title()}>"
        header = ("", "time", "stream", "log")
        table = [header, *rows]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        out = [f"<{self._title()}>"]
        for row in table:
            cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
            out.append("  ".join([*cells, row[3]]).rstrip())
        return "\n".join(out)

    def _repr_html_(self) -> str:
        # The cells are view_text's (cleaned of escapes and controls, cut): escaped last.
        e = html.escape
        head = "<tr><th></th><th>time</th><th>stream</th><th>log</th></tr>"
        body = "".join(
            "<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>"
            for row in self._rows()
        )
        return (
            f"<div><p>{e(self._title())}</p><table>"
            f"<thead>{head}</thead><tbody>{body}</tbody></table></div>"
        )


def _time_text(line: LogLine) -> str:
    if line.time_ns is None:
        return ""
    seconds, nanos = divmod(line.time_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{nanos:09d}Z"
