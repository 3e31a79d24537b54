"""A run's metrics as HTML: latest value and a small inline SVG trend per metric. Pure.

The SVG is inline (no image file, no JavaScript), so the card's static snapshot shows the
trend wherever the notebook is read; it strokes with ``currentColor`` so dark themes work.

>>> html = metrics_html({"loss": (0.9, 0.5, 0.2), "acc": (0.7,)})
>>> "loss" in html and "0.2" in html and html.count("<svg") == 2
True
>>> sparkline_svg([1.0, 3.0, 2.0], width=40, height=10)  # doctest: +ELLIPSIS
'<svg ... points="1.0,9.0 20.0,1.0 39.0,5.0".../svg>'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from jobmagic.models.metrics import MetricGoals
from jobmagic.models.text import view_html

__all__ = [
    "best_values",
    "format_metric",
    "metric_cells",
    "metric_head_cells",
    "metric_names",
    "metrics_html",
    "sort_best_first",
    "sparkline_svg",
]


def format_metric(value: float) -> str:
    """A metric value, short: ``0.0665``, ``1.2e-05``, ``1234``."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def sparkline_svg(values: Sequence[float], *, width: int = 80, height: int = 18) -> str:
    """A polyline of ``values`` scaled into ``width`` x ``height`` (a dot for one value)."""
    finite = [v for v in values if math.isfinite(v)]
    label = view_html(f"trend of {len(finite)} values")
    head = (
        f'<svg class="jobmagic-trend" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        'xmlns="http://www.w3.org/2000/svg" style="vertical-align: middle">'
    )
    if not finite:
        return head + "</svg>"
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    pad = 1.0
    step = (width - 2 * pad) / max(1, len(finite) - 1)

    def y(value: float) -> float:
        return round(height - pad - (value - low) / span * (height - 2 * pad), 1)

    if len(finite) == 1:
        return (
            head
            + f'<circle cx="{width / 2}" cy="{y(finite[0])}" r="1.5" fill="currentColor"/></svg>'
        )
    points = " ".join(f"{round(pad + i * step, 1)},{y(v)}" for i, v in enumerate(finite))
    return (
        head + f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/>'
        "</svg>"
    )


def metrics_html(series: Mapping[str, Sequence[float]]) -> str:
    """A table: metric, latest value, trend; empty when there are no metrics."""
    rows = []
    for name, values in series.items():
        if not values:
            continue
        rows.append(
            f"<tr><th>{view_html(name)}</th><td>{view_html(format_metric(values[-1]))}</td>"
            f"<td>{sparkline_svg(values)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        f'<table class="jobmagic-kv jobmagic-metrics-table"><tbody>{"".join(rows)}</tbody></table>'
    )


# --- metric columns of a runs table ---------------------------------------------------------


def metric_names(rows: Sequence[Mapping[str, float]]) -> list[str]:
    """Every metric name in ``rows``, in order of first appearance."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def best_values(
    rows: Sequence[Mapping[str, float]],
    names: Sequence[str],
    goals: MetricGoals | None = None,
) -> dict[str, float]:
    """The best value of each metric whose direction ``goals`` know (default: the names'
    own); a metric without one has no best (it is shown unranked)."""
    known = goals if goals is not None else MetricGoals()
    best: dict[str, float] = {}
    for name in names:
        ranking = known.ranking(name)
        if ranking is None:
            continue
        value = ranking.best([row.get(name) for row in rows])
        if value is not None:
            best[name] = value
    return best


def sort_best_first(
    rows: Sequence[Mapping[str, float]], name: str, goals: MetricGoals | None = None
) -> list[int]:
    """Row indexes ordered by metric ``name``, best first; rows without it last, in order.
    A metric whose direction is not known leaves the rows in their order.

    >>> sort_best_first([{"loss": 0.5}, {}, {"loss": 0.1}], "loss")
    [2, 0, 1]
    >>> sort_best_first([{"steps": 5.0}, {"steps": 9.0}], "steps")
    [0, 1]
    """
    ranking = (goals if goals is not None else MetricGoals()).ranking(name)
    if ranking is None:
        return list(range(len(rows)))
    return sorted(range(len(rows)), key=lambda index: ranking.sort_key(rows[index].get(name)))


def metric_head_cells(names: Sequence[str]) -> str:
    return "".join(f'<th class="jobmagic-col-metric">{view_html(name)}</th>' for name in names)


def metric_cells(row: Mapping[str, float], names: Sequence[str], best: Mapping[str, float]) -> str:
    """One ``<td>`` per metric; the best value is bold with a star (readable without CSS)."""
    cells = []
    for name in names:
        value = row.get(name)
        if value is None:
            cells.append('<td class="jobmagic-col-metric"></td>')
        elif best.get(name) == value:
            text = view_html(format_metric(value))
            cells.append(
                '<td class="jobmagic-col-metric jobmagic-best" title="best of these runs">'
                f"<strong>★ {text}</strong></td>"
            )
        else:
            cells.append(f'<td class="jobmagic-col-metric">{view_html(format_metric(value))}</td>')
    return "".join(cells)
