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
from jobmagic.frames._sources import ClientSource, PatternSource, client_for, fetch_for
from jobmagic.frames._timeline import notebook_figure_class  # one figure class for every plot
from jobmagic.models.metrics import RunKey, lower_is_better

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
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
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
    client: ClientSource = None,
    metric_patterns: PatternSource = None,
) -> pd.DataFrame:
    """The runs side by side: name, only the params that differ, and the metrics; best first.

    ``by`` names the metric to rank by (default: the first one); best means smallest for
    losses, errors and times (:func:`lower_is_better`), else largest, unless ``ascending``
    says otherwise. Runs without that metric go last.
    """
    frame = runs_to_dataframe(runs, metrics=True, metric_patterns=metric_patterns, client=client)
    metrics = [c for c in map(str, frame.columns) if c.startswith("metrics.")]
    params = [c for c in map(str, frame.columns) if c.startswith("params.")]
    differing = [c for c in params if frame[c].astype("object").nunique(dropna=False) > 1]
    table = frame[["name", *differing, *metrics]]
    if not metrics:
        if by is not None:
            raise _unknown_metric(by, [])
        return table.reset_index(drop=True)
    key = by.removeprefix("metrics.") if by is not None else metrics[0].removeprefix("metrics.")
    if f"metrics.{key}" not in table:
        raise _unknown_metric(key, [m.removeprefix("metrics.") for m in metrics])
    order = lower_is_better(key) if ascending is None else ascending
    return table.sort_values(
        f"metrics.{key}", ascending=order, na_position="last", kind="stable"
    ).reset_index(drop=True)


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

    Returns the figure, which shows itself as a PNG in a notebook (no ``%matplotlib``
    needed). Needs matplotlib.
    """
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
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
        labels = {run: f"{color_by}={values.get(run)}" for run in runs_in_order}
        distinct = sorted(set(values.dropna().tolist()), key=_numeric_first)
        cmap = colormaps["viridis"]
        # 0.9: the far end of viridis is a pale yellow that vanishes on white.
        shade = {v: cmap(0.9 * i / max(1, len(distinct) - 1)) for i, v in enumerate(distinct)}
        colors = {run: shade.get(values.get(run), "#999999") for run in runs_in_order}
    for run in runs_in_order:
        points = history[history["run"] == run].sort_values("step", kind="stable")
        ax.plot(
            points["step"].to_numpy(),
            points["value"].to_numpy(),
            marker="o",
            markersize=3,
            label=labels[run],
            **({"color": colors[run]} if run in colors else {}),
        )
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
    ax.set_title(f"{name} of {len(runs_in_order)} run{'s' if len(runs_in_order) != 1 else ''}")
    if runs_in_order:
        ax.legend(fontsize="small", frameon=False, loc="best")
    return figure


def _numeric_first(value: Any) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))
