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

import html
import math
from collections.abc import Mapping, Sequence

__all__ = ["format_metric", "metrics_html", "sparkline_svg"]


def format_metric(value: float) -> str:
    """A metric value, short: ``0.0665``, ``1.2e-05``, ``1234``."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def sparkline_svg(values: Sequence[float], *, width: int = 80, height: int = 18) -> str:
    """A polyline of ``values`` scaled into ``width`` x ``height`` (a dot for one value)."""
    finite = [v for v in values if math.isfinite(v)]
    label = html.escape(f"trend of {len(finite)} values", quote=True)
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
            f"<tr><th>{html.escape(name)}</th><td>{html.escape(format_metric(values[-1]))}</td>"
            f"<td>{sparkline_svg(values)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        f'<table class="jobmagic-kv jobmagic-metrics-table"><tbody>{"".join(rows)}</tbody></table>'
    )
