"""Looking at outcomes: ``metric_history``, ``compare`` and ``plot_metric``.

Each takes what :func:`~jobmagic.frames.runs_to_dataframe` takes (handles, JobRuns, API
dicts, ledger entries); metrics come through :mod:`jobmagic.api.metrics` (one search per
application; a history costs one call per ML run and metric). The client and the patterns
are the run handles' session's unless given (:mod:`jobmagic.frames._sources`); matplotlib
is imported when a plot is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from jobmagic.api.metrics import run_key
from jobmagic.frames._convert import runs_to_dataframe
from jobmagic.frames._dtypes import times
from jobmagic.frames._sources import (
    ClientSource,
    PatternSource,
    SessionBound,
    client_for,
    fetch_for,
)
from jobmagic.frames._timeline import notebook_figure_class  # one figure class for every plot
from jobmagic.models.metrics import MetricGoals, RunKey
from jobmagic.models.objectives import Objective, parse_objective

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["compare", "metric_history", "plot_metric"]


def _unknown_metric(name: str, known: Iterable[str]) -> ValueError:
    names = sorted(known)
    listing = ", ".join(names) if names else "none (no run logged a metric or matched a pattern)"
    return ValueError(f"No metric {name!r} in these runs. Metrics that exist: {listing}.")


def _run_label(item: Any, key: RunKey | None) -> str:
    return key[1] if key else str(getattr(getattr(item, "run", None), "name", "?"))


def metric_history(
    runs: Iterable[Any],
    name: str | None = None,
    *,
    client: ClientSource = None,
    metric_patterns: PatternSource = None,
) -> pd.DataFrame:
    """Every logged point of the runs' metrics (only ``name`` if given) as a long DataFrame.

    Columns: ``run key step value timestamp`` (``timestamp`` UTC; missing for values read
    from logs, whose step is their order, from 1), then the runs' ``params.*``.
    """
    items = list(runs)
    fetched = fetch_for(items, client=client, metric_patterns=metric_patterns)
    api = client_for(items, client) if any(result.ml_runs for result in fetched) else None
    rows: list[tuple[str, str, int, float, float]] = []
    for item, result in zip(items, fetched, strict=True):
        label = _run_label(item, run_key(item))
        from_ml: set[str] = set()
        for ml_run in result.ml_runs:
            for key in ml_run.metrics:
                if name is not None and key != name:
                    continue
                from_ml.add(key)
                assert api is not None
                for point in api.metric_history(ml_run.run_id, key):
                    if point.value is not None:
                        rows.append(
                            (
                                label,
                                key,
                                point.step or 0,
                                point.value,
                                point.timestamp_ms or math.nan,
                            )
                        )
        for key, values in (result.from_logs or {}).items():
            if key in from_ml or (name is not None and key != name):
                continue
            rows.extend((label, key, step, value, math.nan) for step, value in enumerate(values, 1))
    if name is not None and not any(row[1] == name for row in rows):
        raise _unknown_metric(name, {k for r in fetched for k in r.latest})
    frame = pd.DataFrame(rows, columns=["run", "key", "step", "value", "timestamp"])
    frame["run"] = frame["run"].astype("string")
    frame["key"] = frame["key"].astype("string")
    frame["step"] = frame["step"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    # Whole ms to ns in integers (no float noise), in the ns resolution of every frame's times.
    frame["timestamp"] = times(frame["timestamp"].tolist())
    params = runs_to_dataframe(items)
    param_columns = [c for c in map(str, params.columns) if c.startswith("params.")]
    if param_columns:
        by_run = params.set_index(params["name"].astype(str))[param_columns]
        by_run = by_run[~by_run.index.duplicated(keep="last")]
        frame = frame.join(by_run, on="run")
    return frame


def compare(
    runs: Iterable[Any],
    *,
    by: str | None = None,
    ascending: bool | None = None,
    objective: str | Objective | None = None,
    client: ClientSource = None,
    metric_patterns: PatternSource = None,
) -> pd.DataFrame:
    """The runs side by side: name, only the params that differ, and the metrics; best first.

    Ranked by ``objective`` (``"loss"``, ``"accuracy:max"``; default: a sweep's own, else
    the metric ``by``, else the first metric whose direction is known). A metric's direction
    is its objective's goal, else ``%config JobMagic.metric_goals``, else its name's last
    token (``val_loss`` min, ``f1`` max); ``ascending`` overrides it. A metric of unknown
    direction leaves the runs unranked, in their order. Runs without the metric go last.
    The ranking used is in ``frame.attrs["objective"]`` (``"loss:min"``, or absent).
    """
    own = getattr(runs, "objective", None)  # a SweepResult ranks by its objective
    items = list(runs)
    goals = MetricGoals(_goal_table(items), own if isinstance(own, Objective) else None)
    if objective is not None:
        chosen = parse_objective(objective, None, goals.table)
        goals = MetricGoals(goals.table, chosen)
        by = by or chosen.metric
    frame = runs_to_dataframe(items, metrics=True, metric_patterns=metric_patterns, client=client)
    metrics = [c for c in map(str, frame.columns) if c.startswith("metrics.")]
    params = [c for c in map(str, frame.columns) if c.startswith("params.")]
    differing = [c for c in params if frame[c].astype("object").nunique(dropna=False) > 1]
    table = frame[["name", *differing, *metrics]]
    if not metrics:
        if by is not None:
            raise _unknown_metric(by, [])
        return table.reset_index(drop=True)
    names = [m.removeprefix("metrics.") for m in metrics]
    key = by.removeprefix("metrics.") if by is not None else _default_key(names, goals)
    if f"metrics.{key}" not in table:
        raise _unknown_metric(key, names)
    goal = goals.goal(key)
    if ascending is None and goal is None:
        return table.reset_index(drop=True)  # no direction known: unranked
    order = (goal == "min") if ascending is None else ascending
    ranked = table.sort_values(
        f"metrics.{key}", ascending=order, na_position="last", kind="stable"
    ).reset_index(drop=True)
    ranked.attrs["objective"] = f"{key}:{'min' if order else 'max'}"
    return ranked


def _goal_table(items: Iterable[Any]) -> dict[str, str]:
    """``%config JobMagic.metric_goals`` of the first run handle's session, if any."""
    for item in items:
        if isinstance(item, SessionBound):
            return dict(getattr(item.settings, "metric_goals", ()) or ())
    return {}


def _default_key(names: list[str], goals: MetricGoals) -> str:
    """The objective's metric, else the first metric whose direction is known, else the
    first one (shown unranked)."""
    if goals.objective is not None and goals.objective.metric in names:
        return goals.objective.metric
    return next((name for name in names if goals.goal(name) is not None), names[0])


def plot_metric(
    runs: Iterable[Any],
    name: str,
    *,
    color_by: str | None = None,
    ax: Axes | None = None,
    client: ClientSource = None,
    metric_patterns: PatternSource = None,
) -> Figure:
    """One line per run: metric ``name`` over steps, coloured by the param ``color_by``.

    The legend names each run (``train-ab12c · lr=0.1`` with ``color_by``); each run has its
    own line style and marker, so runs with equal curves stay apart; steps are ticked at
    whole numbers. Returns the figure, which shows itself as a PNG in a notebook (no
    ``%matplotlib`` needed). Needs matplotlib.
    """
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError("plot_metric needs matplotlib: pip install 'jobmagic[plot]'") from exc
    history = metric_history(runs, name, client=client, metric_patterns=metric_patterns)
    column = f"params.{color_by}" if color_by else None
    if column is not None and column not in history:
        known = sorted(
            c.removeprefix("params.") for c in map(str, history.columns) if c.startswith("params.")
        )
        raise ValueError(
            f"No param {color_by!r} to colour by. Params that exist: {', '.join(known) or 'none'}."
        )
    if ax is None:
        figure = notebook_figure_class()(figsize=(8.0, 4.5), layout="constrained")
        ax = figure.add_subplot()
    else:
        # A SubFigure's .figure is its root Figure, which is what gets displayed.
        owner: Any = ax.figure
        figure = owner if isinstance(owner, Figure) else owner.figure
    runs_in_order = list(dict.fromkeys(history["run"].tolist()))
    labels = {run: run for run in runs_in_order}
    colors: dict[str, Any] = {}
    if column is not None:
        values = history.drop_duplicates("run").set_index("run")[column]
        # The run's name first: two runs with the same value are still two legend entries.
        labels = {run: _legend_label(run, color_by, values.get(run)) for run in runs_in_order}
        distinct = sorted(set(values.dropna().tolist()), key=_numeric_first)
        cmap = colormaps["viridis"]
        # 0.9: the far end of viridis is a pale yellow that vanishes on white.
        shade = {v: cmap(0.9 * i / max(1, len(distinct) - 1)) for i, v in enumerate(distinct)}
        colors = {run: shade.get(values.get(run), "#999999") for run in runs_in_order}
    for index, run in enumerate(runs_in_order):
        points = history[history["run"] == run].sort_values("step", kind="stable")
        linestyle, marker = run_style(index)
        ax.plot(
            points["step"].to_numpy(),
            points["value"].to_numpy(),
            linestyle=linestyle,
            marker=marker,
            markersize=4,
            alpha=0.9,
            label=labels[run],
            **({"color": colors[run]} if run in colors else {}),
        )
    # Steps are whole numbers: no tick at 1.2 or 1.4 when a run has two of them.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
    ax.set_title(f"{name} of {len(runs_in_order)} run{'s' if len(runs_in_order) != 1 else ''}")
    if runs_in_order:
        ax.legend(fontsize="small", frameon=False, loc="best")
    return figure


#: Line styles and markers taken in turn (a pair repeats only after 12 runs, their least
#: common multiple), so runs whose curves are equal are still told apart.
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")


def run_style(index: int) -> tuple[str, str]:
    """The line style and marker of the ``index``-th run of a plot.

    >>> [run_style(i) for i in (0, 1, 5)]
    [('-', 'o'), ('--', 's'), ('--', 'P')]
    """
    return _LINESTYLES[index % len(_LINESTYLES)], _MARKERS[index % len(_MARKERS)]


def _legend_label(run: str, param: str | None, value: Any) -> str:
    """``train-ab12c · lr=0.1``; the name alone for a run without that param.

    >>> _legend_label("train-1", "lr", "0.1"), _legend_label("train-2", "lr", None)
    ('train-1 · lr=0.1', 'train-2')
    """
    if param is None or value is None or bool(pd.isna(value)):
        return run
    return f"{run} · {param}={value}"


def _numeric_first(value: Any) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))
