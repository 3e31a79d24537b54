"""What a runs board says, as text and escaped HTML: counts, the page, its saved copies.

Pure functions of the board's rows and counts, shared by the live board's counts line and
pager and by its static copies (``text/html`` and ``text/plain``).

>>> board_counts_line({"RUNNING": 2, "FINISHED": 1})
'3 runs · 2 RUNNING · 1 FINISHED'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from jobmagic.models import JobRun
from jobmagic.models.formatting import format_clock, format_counts, order_counts
from jobmagic.models.metrics import MetricGoals
from jobmagic.models.text import view_html, view_text
from jobmagic.widgets._source import RunSource
from jobmagic.widgets.pages import page_count
from jobmagic.widgets.static import render_runs_html, render_runs_text, runs_table_html, style_block

__all__ = [
    "board_counts_html",
    "board_counts_line",
    "board_snapshot_html",
    "board_text",
    "format_counts",
    "latest_metrics",
    "page_text",
    "runs_summary",
    "state_counts",
]

#: A shown row as its copies need it: the run and the params it was sent with.
RowEntry = tuple[JobRun, Mapping[str, str]]


def latest_metrics(source: RunSource) -> dict[str, float]:
    """A source's latest metric values, from what it already knows (no request)."""
    series = source.metric_series
    return {name: values[-1] for name, values in series.items() if values}


def state_counts(status_counts: Mapping[str, int]) -> dict[str, int]:
    """Runs per run status, named as the API and the badges name them (``6 CREATED``, never
    "6 queued" over six CREATED badges), in the order of a run's life; no zeros.

    >>> state_counts({"FINISHED": 3, "RUNNING": 1, "CREATED": 2, "SCHEDULED": 1})
    {'CREATED': 2, 'SCHEDULED': 1, 'RUNNING': 1, 'FINISHED': 3}
    """
    return order_counts(status_counts)


def runs_summary(status_counts: Mapping[str, int]) -> str:
    """``10,000 runs: 5,000 FINISHED · 2,500 FAILED`` over every page.

    >>> runs_summary({"FINISHED": 5000, "FAILED": 2500})
    '7,500 runs: 5,000 FINISHED · 2,500 FAILED'
    """
    total = sum(status_counts.values())
    noun = "run" if total == 1 else "runs"
    return f"{total:,} {noun}: {format_counts(state_counts(status_counts))}"


def board_counts_line(status_counts: Mapping[str, int], stale: Iterable[datetime] = ()) -> str:
    """The live board's counts line, with the oldest time polling began failing, if any.

    >>> board_counts_line({})
    'no runs yet'
    """
    total = sum(status_counts.values())
    noun = "run" if total == 1 else "runs"
    counts = format_counts(state_counts(status_counts))
    line = f"{total:,} {noun} · {counts}" if total else "no runs yet"
    since = min(stale, default=None)
    if since is not None:
        line += f" · stale since {format_clock(since)}"
    return line


def board_counts_html(line: str, note: str = "") -> str:
    """The counts line as the live board shows it, under the board's note (a sweep's
    summary) when it has one.

    >>> board_counts_html("1 run · 1 RUNNING", note="<sweep>")
    '<pre class="jobmagic-board-note">&lt;sweep&gt;</pre><span ...>1 run · 1 RUNNING</span>'
    """
    counts = f'<span class="jobmagic-board-counts-text">{view_html(line)}</span>'
    if not note:
        return counts
    return f'<pre class="jobmagic-board-note">{view_html(note)}</pre>{counts}'


def page_text(page: int, page_size: int, shown: int, total: int) -> str:
    """``page 2 of 40 · runs 51–100 of 2,000``, as the pager says it.

    >>> page_text(1, 50, 50, 2000)
    'page 2 of 40 · runs 51–100 of 2,000'
    """
    first = page * page_size
    pages = page_count(total, page_size)
    return f"page {page + 1:,} of {pages:,} · runs {first + 1:,}–{first + shown:,} of {total:,}"


def board_text(
    entries: Sequence[RowEntry], *, note: str = "", paged: tuple[str, str] | None
) -> str:
    """``12 runs: 3 running · 9 finished`` (under the note, if any); with several pages
    (``paged`` is the summary of every page and the :func:`page_text`), those instead.

    >>> board_text([], note="", paged=("7,500 runs: 7,500 FINISHED", "page 1 of 150"))
    '7,500 runs: 7,500 FINISHED · page 1 of 150'
    """
    text = f"{paged[0]} · {paged[1]}" if paged else render_runs_text(entries)
    # The note (a sweep's summary) quotes the server's errors: cleaned as run text is.
    return f"{view_text(note)}\n{text}" if note else text


def board_snapshot_html(
    entries: Sequence[RowEntry],
    metrics: Sequence[Mapping[str, float]],
    *,
    note: str = "",
    paged: tuple[str, str] | None,
    goals: MetricGoals | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """The board's saved copy: a static table of the shown runs (under the note, if any);
    with several pages (``paged`` as in :func:`board_text`), every page's counts and which
    page this is, so a reader without widgets knows there are more runs than it shows."""
    if paged is None:
        table = render_runs_html(entries, metrics=metrics, goals=goals, labels=labels)
    else:
        summary, where = (view_html(part) for part in paged)
        table = (
            f'<div class="jobmagic-snapshot jobmagic-board">{style_block()}'
            f'<div class="jobmagic-board-counts">{summary}</div>'
            f'<div class="jobmagic-board-page">{where}</div>'
            f"{runs_table_html(entries, metrics=metrics, goals=goals, labels=labels)}</div>"
        )
    if not note:
        return table
    return f"<pre class='jobmagic-sweep-summary'>{view_html(note)}</pre>{table}"
