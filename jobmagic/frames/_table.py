"""A frame of runs as a styled table: the cards' status colours, long text shortened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from jobmagic.models.formatting import BADGE_CSS, status_state
from jobmagic.models.text import view_html

if TYPE_CHECKING:
    pass


__all__ = ["TABLE_ROWS", "TABLE_TEXT_LIMIT", "style_runs"]


# --- a styled table ------------------------------------------------------------------


#: A styled table shows at most this many rows; the frame itself keeps them all.
TABLE_ROWS = 200


def style_runs(frame: pd.DataFrame, *, rows: int = TABLE_ROWS) -> Any:
    """A frame from :func:`runs_to_dataframe`, styled for a notebook (``%job_runs --table``).

    A frame longer than ``rows`` shows its first ``rows`` rows, and its caption says how
    many there are (styling and saving 100,000 rows of HTML takes seconds and megabytes;
    the frame, e.g. ``-o df``, still holds every row).

    A status shows as the run cards' badge (their colours and size; the row is not
    painted); names, statuses, commands and errors stay on one line, and commands and
    errors longer than :data:`TABLE_TEXT_LIMIT` characters are shortened, the text in the
    cell's title (a tooltip) and whole in the frame; times read
    ``2026-01-02 13:04:05`` (UTC), durations ``42.0 s`` or ``1:02:03``; missing
    values are blank; text (headers too) shows as every view shows a run's text
    (:func:`jobmagic.models.text.view_html`: no control characters or terminal escapes,
    shortened before it is HTML-escaped, so a run name cannot inject markup and a cut never
    splits an entity). Returns a pandas ``Styler``, or the frame unchanged if jinja2 (which
    Styler needs) is not installed.

    >>> from jobmagic.frames import runs_to_dataframe
    >>> frame = runs_to_dataframe([{"name": "<b>x</b>", "status": "FAILED", "error": "\\x1b[31m<"}])
    >>> html = style_runs(frame).to_html()
    >>> "&lt;b&gt;x&lt;/b&gt;" in html and "#c62828" in html and "\\x1b" not in html
    True
    """
    try:
        import jinja2  # noqa: F401  (Styler's renderer; imported here to fail early and softly)
    except ImportError:
        return frame
    total = len(frame)
    if total > rows:
        frame = frame.head(rows)
    styler = frame.style.format(na_rep="", escape="html")
    text = [c for c in frame if _holds_text(frame[c])]
    if text:
        # Cleaned and escaped by one function (not Styler's escape, which a formatter sees
        # after the escaping: it would cut "&lt;" in half).
        styler = styler.format(view_html, subset=text, na_rep="")
    for axis in (0, 1):
        styler = styler.format_index(view_html, axis=axis)
    if total > rows:
        noun = "run" if total == 1 else "runs"
        styler = styler.set_caption(
            f"The first {rows:,} of {total:,} {noun}; the DataFrame holds them all."
        )
    times = [c for c in ("created_at", "end_time") if c in frame]
    if times:
        styler = styler.format(_format_time, subset=times, na_rep="")
    if "duration" in frame:
        styler = styler.format(_format_duration, subset=["duration"], na_rep="")
    long_text = [c for c in ("command", "error") if c in frame]
    if long_text:
        # One line each, cut, the whole text a hover away: no column of one word per line.
        styler = styler.format(_shorten, subset=long_text, na_rep="")
    one_line = [c for c in ("name", "status", *long_text) if c in frame]
    if one_line:
        styler = styler.set_properties(subset=one_line, **{"white-space": "nowrap"})
    if "status" in frame:
        # A small badge in the cards' colours, not a painted cell.
        styler = styler.format(_status_badge, subset=["status"], na_rep="")
    return styler


#: Beyond this many characters a command or error is cut in the styled table.
TABLE_TEXT_LIMIT = 60


def _holds_text(column: pd.Series) -> bool:
    """True unless the column holds numbers, times, durations or booleans."""
    kinds = pd.api.types
    return not (
        kinds.is_numeric_dtype(column)
        or kinds.is_datetime64_any_dtype(column)
        or kinds.is_timedelta64_dtype(column)
    )


#: A shortened cell's title (its tooltip) keeps this many characters of the text.
TITLE_TEXT_LIMIT = 2000


def _shorten(value: Any) -> str:
    """One line of at most :data:`TABLE_TEXT_LIMIT` characters, cut before it is escaped;
    when cut, the text (up to :data:`TITLE_TEXT_LIMIT`) is its title.

    >>> _shorten("short")
    'short'
    >>> _shorten("x " * 40)[:40]
    '<span title="x x x x x x x x x x x x x x'
    """
    if value is None or value is pd.NA:
        return ""
    shown = view_html(value, limit=TABLE_TEXT_LIMIT, one_line=True)
    if view_html(value, limit=TITLE_TEXT_LIMIT, one_line=True) == shown:
        return shown  # nothing was cut: no tooltip to repeat it
    # The title keeps the text's lines (a tooltip shows them), escaped for an attribute.
    return f'<span title="{view_html(value, limit=TITLE_TEXT_LIMIT)}">{shown}</span>'


def _format_time(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    return str(pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S"))


def _format_duration(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    seconds = pd.Timedelta(value).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


#: The cards' badge shape (:mod:`jobmagic.widgets._stylesheet`), inline: a table styled
#: outside the cards' stylesheet (an export, another front end) looks the same.
_BADGE_SHAPE = (
    "display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 11px; "
    "font-weight: 600; line-height: 18px; letter-spacing: 0.02em; white-space: nowrap"
)


def _status_badge(value: Any) -> str:
    """A status as the card's badge: its colours, its size (one look for the same facts).

    >>> "#c62828" in _status_badge("FAILED") and ">FAILED</span>" in _status_badge("FAILED")
    True
    """
    if value is None or value is pd.NA:
        return ""
    state = status_state(str(value))
    return (
        f'<span class="jobmagic-table-status jobmagic-table-status-{state}" '
        f'style="{BADGE_CSS[state]}; {_BADGE_SHAPE}">{view_html(value)}</span>'
    )
