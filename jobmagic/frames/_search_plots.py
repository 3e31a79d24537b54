"""A search's two pictures, drawn with matplotlib: which params went with good values
(parallel coordinates) and how much each mattered (importance bars).

Both take plain data (trial rows with ``number``, ``state``, ``value``, ``params``; a
mapping of importances) and the objective, whose direction sets the colour scale: the
bright end is always the best. Like :func:`~jobmagic.frames.plot_timeline`, each returns a
Figure that displays itself in any notebook front end.

>>> from types import SimpleNamespace as Row
>>> from jobmagic.models.objectives import Objective
>>> rows = [Row(number=i, state="COMPLETE", value=1.0 / (i + 1), params={"lr": 0.1 * (i + 1),
...         "opt": "adam" if i % 2 else "sgd"}) for i in range(4)]
>>> fig = plot_parallel(rows, Objective("loss", "min"))
>>> len(fig.axes[0].lines) >= 4, fig.axes[1].get_ylabel()
(True, 'loss (lower is better)')
>>> fig = plot_importance({"lr": 0.8, "opt": 0.2}, Objective("loss", "min"))
>>> [float(bar.get_width()) for bar in fig.axes[0].patches]
[0.2, 0.8]
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobmagic.frames._timeline import notebook_figure_class
from jobmagic.models.objectives import Objective

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_importance", "plot_parallel"]

_BEST_COLOR = "#d62728"


def _need_matplotlib(what: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{what} needs matplotlib: pip install 'jobmagic[plot]'") from exc


def plot_parallel(
    trials: Iterable[Any],
    objective: Objective,
    *,
    log: Collection[str] = (),
    params: Sequence[str] | None = None,
) -> Figure:
    """Parallel coordinates: one vertical axis per param and one for the objective, one
    line per COMPLETE trial coloured by its value (bright is best; the best trial is drawn
    on top, in red). ``log`` names params shown on a log scale; ``params`` picks and orders
    the axes (default: every param, in first-seen order). Categorical params are spread
    evenly along their axis.
    """
    _need_matplotlib("plot_parallel")
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    done = [t for t in trials if t.state == "COMPLETE" and _finite(t.value)]
    names = list(params) if params is not None else _param_names(done)
    figure = notebook_figure_class()(figsize=(max(6.0, 1.6 * (len(names) + 1) + 2), 4.2))
    ax = figure.add_axes((0.06, 0.14, 0.78, 0.74))
    bar_ax = figure.add_axes((0.88, 0.14, 0.025, 0.74))
    goal = "lower" if objective.minimize else "higher"
    ax.set_title(
        f"{len(done)} finished trial{'s' if len(done) != 1 else ''}: params against "
        f"{objective.metric}"
    )
    values = [float(t.value) for t in done]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    # The bright end of the map is the best value, whichever the direction.
    norm = Normalize(vmin=low, vmax=high if high > low else low + 1.0)
    cmap = colormaps["viridis_r" if objective.minimize else "viridis"]
    columns = [_axis(name, [t.params.get(name) for t in done], name in log) for name in names]
    score = _axis(objective.metric, values, False)
    score.flip = objective.minimize  # the best value on top, as on the colour bar
    columns.append(score)
    xs = list(range(len(columns)))
    best = objective.best(list[float | None](values)) if values else None
    order = sorted(range(len(done)), key=lambda i: objective.sort_key(values[i]), reverse=True)
    for i in order:
        ys = [column.position(column.raw[i]) for column in columns]
        is_best = values[i] == best
        ax.plot(
            xs,
            ys,
            color=_BEST_COLOR if is_best else cmap(norm(values[i])),
            linewidth=2.4 if is_best else 1.1,
            alpha=1.0 if is_best else 0.75,
            zorder=3 if is_best else 2,
        )
    for x, column in zip(xs, columns, strict=True):
        ax.axvline(x, color="#444444", linewidth=0.8, zorder=1)
        for y, text in column.ticks():
            ax.annotate(
                text,
                (x, y),
                xytext=(4, 0),
                textcoords="offset points",
                fontsize=8,
                va="center",
                color="#333333",
            )
    ax.set_xticks(xs, labels=[column.name + (" (log)" if column.log else "") for column in columns])
    ax.set_xlim(-0.2, len(columns) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    from matplotlib.colorbar import ColorbarBase

    bar = ColorbarBase(bar_ax, cmap=cmap, norm=norm)
    bar.set_label(f"{objective.metric} ({goal} is better)")
    if objective.minimize:
        bar_ax.invert_yaxis()  # the best (bright) end on top, as on the last axis
    return figure


def plot_importance(importances: Mapping[str, float], objective: Objective) -> Figure:
    """Each param's importance to the objective (Optuna's evaluator; they sum to 1), as
    horizontal bars, the most important on top."""
    _need_matplotlib("plot_importance")
    ranked = sorted(importances.items(), key=lambda item: item[1])
    figure = notebook_figure_class()(
        figsize=(7.0, max(2.2, 0.45 * len(ranked) + 1.2)), layout="constrained"
    )
    ax = figure.add_subplot()
    names = [name for name, _ in ranked]
    weights = [float(weight) for _, weight in ranked]
    bars = ax.barh(range(len(ranked)), weights, color="#1f77b4", height=0.6)
    ax.set_yticks(range(len(ranked)), labels=names)
    for bar, weight in zip(bars, weights, strict=True):
        ax.annotate(
            f"{weight:.2f}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max([*weights, 0.0]) * 1.15 or 1.0)
    ax.set_xlabel("importance (sums to 1)")
    goal = "minimised" if objective.minimize else "maximised"
    ax.set_title(f"What mattered to {objective.metric} ({goal})")
    return figure


# -- axes -------------------------------------------------------------------------------


class _Axis:
    """One vertical axis: its values placed in [0, 1] and a few labelled ticks."""

    def __init__(
        self,
        name: str,
        raw: list[Any],
        places: dict[Any, float] | None,
        low: float,
        high: float,
        log: bool,
    ) -> None:
        self.name, self.raw, self.places = name, raw, places
        self.low, self.high, self.log = low, high, log
        self.flip = False

    def _scaled(self, value: float) -> float:
        if self.log:
            value = math.log10(value)
        return value

    def position(self, value: Any) -> float:
        place = self._place(value)
        return 1.0 - place if self.flip else place

    def _place(self, value: Any) -> float:
        if self.places is not None:
            return self.places.get(value, 0.5)
        number = _number(value)
        if number is None or (self.log and number <= 0):
            return 0.5
        low, high = self._scaled(self.low), self._scaled(self.high)
        return 0.5 if high == low else (self._scaled(number) - low) / (high - low)

    def ticks(self) -> list[tuple[float, str]]:
        if self.places is not None:
            return [(y, _short(value)) for value, y in self.places.items()]
        if self.low == self.high:
            return [(0.5, f"{self.low:.4g}")]
        return [
            (self.position(self.low), f"{self.low:.3g}"),
            (self.position(self.high), f"{self.high:.3g}"),
        ]


def _axis(name: str, raw: list[Any], log: bool) -> _Axis:
    numbers = [_number(value) for value in raw]
    if raw and all(number is not None for number in numbers):
        present = [n for n in numbers if n is not None]
        log = log and min(present) > 0
        return _Axis(name, raw, None, min(present), max(present), log)
    categories = list(dict.fromkeys(str(value) for value in raw))
    step = 1.0 / max(1, len(categories) - 1)
    places = {
        value: (i * step if len(categories) > 1 else 0.5) for i, value in enumerate(categories)
    }
    return _Axis(name, [str(value) for value in raw], places, 0.0, 1.0, False)


def _param_names(trials: Iterable[Any]) -> list[str]:
    names: dict[str, None] = {}
    for trial in trials:
        names.update(dict.fromkeys(trial.params))
    return list(names)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return None


def _finite(value: Any) -> bool:
    return _number(value) is not None


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 14 else text[:13] + "…"
