"""Runs as a timeline: one bar per run from creation to end, coloured by status."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


from jobmagic.frames._colors import OTHER_COLOR, STATUS_COLORS
from jobmagic.frames._convert import runs_to_dataframe

__all__ = ["notebook_figure_class", "plot_timeline"]


# --- the timeline --------------------------------------------------------------------

# Over: the terminal statuses, plus REJECTED and NOT-CREATED (ledger attempts that started
# no run).
_OVER = frozenset({"FINISHED", "FAILED", "TERMINATED", "REJECTED", "NOT-CREATED"})
# Beyond this many bars, names would overlap: the y axis goes unlabelled instead.
_MAX_LABELLED = 80


def plot_timeline(
    runs: Iterable[Any],
    *,
    label: str | None = None,
    ax: Axes | None = None,
    now: datetime | None = None,
) -> Figure:
    """A Gantt-style chart: one bar per run from creation to end, coloured by status.

    Runs still going are drawn up to ``now`` (default: the current time).
    ``label`` names a param whose value labels each bar (``lr=0.1``) instead
    of the run name. Draws on ``ax`` if given, else on a new Figure; returns
    the Figure (Jupyter displays it). Runs with no creation time are skipped.
    Accepts what :func:`runs_to_dataframe` accepts. Needs matplotlib.

    >>> fig = plot_timeline([{"name": "a", "status": "FINISHED", "createdAt": 0, "duration": 60}])
    >>> len(fig.axes[0].patches)
    1
    """
    try:
        from matplotlib import dates as mdates
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_timeline needs matplotlib: pip install 'jobmagic[plot]'") from exc

    frame = runs_to_dataframe(runs, params=label is not None)
    frame = frame[frame["created_at"].notna()]
    frame = frame.sort_values("created_at", kind="stable").reset_index(drop=True)

    start, end = _bar_ends(frame, now)
    statuses = frame["status"].astype(str)

    count = len(frame)
    if ax is None:
        height = min(24.0, max(2.5, 0.32 * count + 1.4))  # grows with the runs, within reason
        figure = notebook_figure_class()(figsize=(9.0, height), layout="constrained")
        ax = figure.add_subplot()
    else:
        # A SubFigure's .figure is its root Figure, which is what gets displayed.
        owner: Any = ax.figure
        figure = owner if isinstance(owner, Figure) else owner.figure

    # matplotlib's date numbers are days; strip the tz after converting so it is UTC days.
    left = mdates.date2num(start.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
    right = mdates.date2num(end.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
    width = right - left
    if len(width):
        # Zero-length runs would be invisible: give every bar at least a sliver.
        span = float(right.max() - left.min()) or 1.0 / 24.0
        width = np.maximum(width, span / 200.0)
    colors = [STATUS_COLORS.get(s, OTHER_COLOR) for s in statuses]
    positions = np.arange(len(frame))
    ax.barh(positions, width, left=left, color=colors, height=0.6, edgecolor="none")

    if count <= _MAX_LABELLED:
        ax.set_yticks(positions, labels=_bar_labels(frame, label))
    else:
        ax.set_yticks([])
        ax.set_ylabel("runs, oldest first")  # too many to name each one legibly
    ax.invert_yaxis()  # earliest run at the top, like a schedule
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", alpha=0.3)
    _status_legend(ax, frame, statuses)
    ax.set_title(f"{count} run{'s' if count != 1 else ''}" + (f" by {label}" if label else ""))
    return figure


def _bar_ends(frame: pd.DataFrame, now: datetime | None) -> tuple[pd.Series, pd.Series]:
    """Each bar's start and end: a run that can still change and has no end is drawn up to
    ``now``; one that is over ends at end_time, else created + duration, else is a sliver
    at its start."""
    now_ts = pd.Timestamp(now or datetime.now(timezone.utc))
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    statuses = frame["status"].astype(str)
    start = frame["created_at"]
    end = frame["end_time"].mask(frame["end_time"].isna() & ~statuses.isin(_OVER), now_ts)
    return start, end.fillna(start + frame["duration"]).fillna(start)


def _status_legend(ax: Axes, frame: pd.DataFrame, statuses: pd.Series) -> None:
    """The statuses present, in lifecycle order; outside the plot so no bar is hidden."""
    from matplotlib.patches import Patch

    seen = set(statuses)
    present = [str(s) for s in frame["status"].cat.categories if s in seen]
    if present:
        handles = [Patch(color=STATUS_COLORS.get(s, OTHER_COLOR), label=s) for s in present]
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            title="status",
            frameon=False,
        )


def _bar_labels(frame: pd.DataFrame, label: str | None) -> list[str]:
    names = frame["name"].fillna("?").tolist()
    column = f"params.{label}" if label else None
    if column is None or column not in frame:
        return [str(n) for n in names]
    values = frame[column].tolist()
    # A run without that param keeps its name, so no bar is left unlabelled.
    labels = [
        f"{label}={v}" if v is not pd.NA else str(n) for v, n in zip(values, names, strict=True)
    ]
    # Two runs with the same value (a grid's other axis differs) must not share a label.
    repeated = {text for text in labels if labels.count(text) > 1}
    return [
        f"{text} · {name}" if text in repeated and text != str(name) else text
        for text, name in zip(labels, names, strict=True)
    ]


_FIGURE_CLASS: type[Figure] | None = None


def notebook_figure_class() -> type[Figure]:
    """A Figure that shows itself as a PNG in any notebook front end, with no ``%matplotlib``.

    A Figure made without pyplot has no display of its own: IPython would show
    ``<Figure size 900x396 with 1 Axes>``. Where the inline backend is active its PNG
    formatter (registered for Figure) still wins, so the picture is never shown twice.
    """
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib.figure import Figure

        class NotebookFigure(Figure):
            """A matplotlib Figure with ``_repr_png_``."""

            def _repr_png_(self) -> bytes:
                import io

                buffer = io.BytesIO()
                self.savefig(buffer, format="png", dpi=100)
                return buffer.getvalue()

        NotebookFigure.__module__ = __name__
        NotebookFigure.__qualname__ = "NotebookFigure"
        _FIGURE_CLASS = NotebookFigure
    return _FIGURE_CLASS
