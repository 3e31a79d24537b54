"""Outcomes: each run's metrics, from TrueFoundry's ML runs or from its logs by pattern.

A job's code logs metrics to an ML run tagged with the job run's name and application id
(``truefoundry.ml`` does it inside every pod); a job that logs nothing anywhere still prints
its metrics, and for it a pattern (``{"acc": r"acc=([0-9.eE+-]+)"}``) reads them from the
logs: the last match is the value, all matches in order the history. ML-run metrics win over
patterns for the same name.

Cost: one search per application (paged, stopping once every wanted run is found) gives
the latest metrics of any number of runs; patterns cost one log read per run; a history
costs one call per ML run and metric.

>>> patterns = compile_patterns({"acc": r"acc=([0-9.]+)"})
>>> scan_logs(["epoch 1 acc=0.5", "noise", "acc=0.75"], patterns)
{'acc': [0.5, 0.75]}
>>> compile_patterns({"acc": r"acc=[0-9.]+"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: metric pattern 'acc' has no group: put the value in parentheses, ...
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobmagic.api._mlendpoints import equals
from jobmagic.errors import JobmagicError
from jobmagic.models import JobRun
from jobmagic.models.ml import APPLICATION_TAG, JOB_RUN_TAG, Metric, MLRun

if TYPE_CHECKING:
    import pandas as pd

    from jobmagic.api._client import JobsClient

__all__ = [
    "MetricState",
    "RunMetrics",
    "client_for",
    "compile_patterns",
    "fetch_metrics",
    "frame_with_metrics",
    "handle_metrics",
    "lower_is_better",
    "metric_columns",
    "metric_series",
    "patterns_or_setting",
    "refresh_handles",
    "run_key",
    "scan_logs",
    "search_app",
    "seed_handles",
    "want_metrics",
]

RunKey = tuple[str, str]  # (application id, job run name)
#: Metric names whose smaller values are better; any other metric is best when largest.
_LOWER_IS_BETTER = re.compile(
    r"loss|err|mse|mae|rmse|mape|perplexity|latency|time|cost|regret|wer|cer", re.IGNORECASE
)
#: Patterns read a run's last this-many log lines (the newest values are what count).
_LOG_LIMIT = 5000


def lower_is_better(name: str) -> bool:
    """Whether a smaller ``name`` is the better outcome (losses, errors, times)."""
    return bool(_LOWER_IS_BETTER.search(name))


# --- patterns: pure ---------------------------------------------------------------------


def compile_patterns(patterns: Mapping[str, Any] | None) -> dict[str, re.Pattern[str]]:
    """Checked metric patterns: each must compile and have a group holding the value.

    The value is the group named ``value`` if there is one, else the first group.
    """
    compiled: dict[str, re.Pattern[str]] = {}
    if patterns is None:
        return compiled
    if not isinstance(patterns, Mapping):
        raise ValueError(
            "metric_patterns must be a dict of metric name -> regular expression, e.g. "
            '{"acc": r"acc=([0-9.eE+-]+)"}'
        )
    for name, pattern in patterns.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"metric pattern names must be non-empty strings, got {name!r}")
        if isinstance(pattern, re.Pattern):
            regex = pattern
        elif isinstance(pattern, str):
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"metric pattern {name!r} is not a valid regular expression ({exc}): "
                    f"{pattern!r}"
                ) from None
        else:
            raise ValueError(
                f"metric pattern {name!r} must be a string (a regular expression), "
                f"got {type(pattern).__name__}"
            )
        if regex.groups < 1:
            raise ValueError(
                f"metric pattern {name!r} has no group: put the value in parentheses, "
                f"e.g. '{re.escape(name)}=([0-9.eE+-]+)'"
            )
        compiled[name] = regex
    return compiled


def _value_of(match: re.Match[str]) -> float | None:
    text = match.group("value") if "value" in match.re.groupindex else match.group(1)
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def scan_logs(
    lines: Iterable[str], patterns: Mapping[str, re.Pattern[str]]
) -> dict[str, list[float]]:
    """Every value each pattern finds in ``lines``, in order (names with none left out)."""
    found: dict[str, list[float]] = {}
    for line in lines:
        for name, regex in patterns.items():
            for match in regex.finditer(line):
                value = _value_of(match)
                if value is not None:
                    found.setdefault(name, []).append(value)
    return found


# --- which runs ---------------------------------------------------------------------------


def run_key(item: Any) -> RunKey | None:
    """(application id, run name) of anything ``runs_to_dataframe`` accepts, if known."""
    if isinstance(item, JobRun):
        return (item.application_id, item.name) if item.application_id and item.name else None
    if isinstance(item, Mapping):
        app, name = item.get("applicationId"), item.get("name")
        return (str(app), str(name)) if app and name else None
    run = getattr(item, "run", None)
    app = getattr(item, "application_id", None) or getattr(run, "application_id", None)
    name = getattr(run, "name", None)
    return (str(app), str(name)) if app and name else None


def client_for(items: Sequence[Any], client: JobsClient | None) -> JobsClient:
    """``client``, else the session of the first run handle among ``items``, else the
    current session's (the extension's in IPython, else one from the environment)."""
    if client is not None:
        return client
    for item in items:
        backend = getattr(item, "_backend", None)  # a RunHandle's session
        if backend is not None:
            return backend.client
    from jobmagic.public import current_session

    return current_session().client


# --- fetching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMetrics:
    """One job run's metrics: ``latest`` values, the ML runs they came from, and the
    histories read from its logs by pattern (``{name: [values in order]}``)."""

    latest: Mapping[str, float]
    ml_runs: tuple[MLRun, ...] = ()
    from_logs: Mapping[str, Sequence[float]] | None = None


def _newest(points: Iterable[Metric]) -> dict[str, float]:
    best: dict[str, tuple[float, float, float]] = {}
    for point in points:
        if point.value is None:
            continue
        rank = (float(point.step or 0), point.timestamp_ms or 0.0)
        if point.key not in best or rank >= best[point.key][:2]:
            best[point.key] = (*rank, point.value)
    return {key: value[2] for key, value in best.items()}


def search_app(client: JobsClient, app_id: str, names: set[str] | None) -> dict[str, list[MLRun]]:
    """The ML runs of one application's job runs, by job run name: one search, paged.

    With ``names``, paging stops once every named run has been seen (newest first, so a
    look at a recent sweep does not read the application's whole history).
    """
    filter_ = equals(f"tags.{APPLICATION_TAG}", app_id)
    if names is not None and len(names) == 1:
        filter_ += " and " + equals(f"tags.{JOB_RUN_TAG}", next(iter(names)))

    def seen_all(runs: Sequence[MLRun]) -> bool:
        return names is not None and names <= {run.job_run_name for run in runs}

    found: dict[str, list[MLRun]] = {}
    for run in client.search_ml_runs(filter_, stop_when=seen_all):
        name = run.job_run_name
        if name and (names is None or name in names):
            found.setdefault(name, []).append(run)
    return found


def fetch_metrics(
    runs: Iterable[Any],
    *,
    client: JobsClient | None = None,
    metric_patterns: Mapping[str, Any] | None = None,
) -> list[RunMetrics]:
    """The metrics of each run, in input order (runs with no known application get none)."""
    items = list(runs)
    keys = [run_key(item) for item in items]
    patterns = compile_patterns(metric_patterns)
    if not any(keys):
        return [RunMetrics({}) for _ in items]
    api = client_for(items, client)
    by_app: dict[str, set[str]] = {}
    for key in keys:
        if key is not None:
            by_app.setdefault(key[0], set()).add(key[1])
    ml: dict[RunKey, list[MLRun]] = {}
    for app_id, names in by_app.items():
        for name, found in search_app(api, app_id, names).items():
            ml[(app_id, name)] = found
    results = []
    for key in keys:
        if key is None:
            results.append(RunMetrics({}))
            continue
        ml_runs = tuple(ml.get(key, ()))
        latest = _newest(point for run in ml_runs for point in run.metrics.values())
        from_logs = None
        if patterns and not set(patterns) <= set(latest):
            lines = [line.log for line in api.logs(key[0], key[1], limit=_LOG_LIMIT, tail=True)]
            from_logs = scan_logs(lines, patterns)
            for name, values in from_logs.items():
                latest.setdefault(name, values[-1])  # ML-run metrics win
        results.append(RunMetrics(latest, ml_runs, from_logs))
    return results


def metric_columns(
    items: Iterable[Any],
    *,
    client: JobsClient | None,
    metric_patterns: Mapping[str, Any] | None,
    fetched: Sequence[RunMetrics] | None = None,
) -> dict[str, list[float]]:
    """``{"metrics.<name>": [latest value or NaN per run]}``, names in first-seen order
    (from ``fetched``, the runs' :func:`fetch_metrics`, when the caller has it)."""
    if fetched is None:
        fetched = fetch_metrics(items, client=client, metric_patterns=metric_patterns)
    names: dict[str, None] = {}
    for result in fetched:
        names.update(dict.fromkeys(result.latest))
    return {
        f"metrics.{name}": [float(r.latest.get(name, math.nan)) for r in fetched] for name in names
    }


# --- a run handle's metrics (RunHandle.metrics, kept current by the tracker) -------------


class MetricState:
    """What a run handle knows of its run's metrics: the latest values and a trend per
    metric (the values seen while it ran, replaced by the full history once it ended)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latest: dict[str, float] = {}
        self.series: dict[str, list[float]] = {}
        self.wanted = False  # someone read the metrics: the tracker keeps them current
        self.fetched = False
        self.fetched_at = -math.inf  # time.monotonic() of the last fetch
        self.complete = False  # histories read after the run ended: nothing more to fetch

    def take(self, latest: Mapping[str, float]) -> None:
        with self._lock:
            for name, value in latest.items():
                trend = self.series.setdefault(name, [])
                if not trend or trend[-1] != value or self.latest.get(name) != value:
                    trend.append(value)
            self.latest.update(latest)
            self.fetched = True
            self.fetched_at = time.monotonic()

    def take_histories(self, histories: Mapping[str, Sequence[float]]) -> None:
        with self._lock:
            for name, values in histories.items():
                if values:
                    self.series[name] = list(values)
                    self.latest.setdefault(name, values[-1])
            self.complete = True

    def snapshot(self) -> tuple[dict[str, float], dict[str, tuple[float, ...]]]:
        with self._lock:
            return dict(self.latest), {k: tuple(v) for k, v in self.series.items()}


_STATES_LOCK = threading.Lock()


def state_of(handle: Any) -> MetricState:
    """The handle's :class:`MetricState`, made on first use."""
    with _STATES_LOCK:
        state = getattr(handle, "_metric_state", None)
        if state is None:
            state = MetricState()
            handle._metric_state = state
        return state


def _handle_patterns(handle: Any) -> dict[str, re.Pattern[str]]:
    settings = getattr(getattr(handle, "_backend", None), "settings", None)
    try:
        return compile_patterns(dict(getattr(settings, "metric_patterns", ()) or ()))
    except ValueError:
        return {}


def _fill_histories(client: JobsClient, handle: Any, ml_runs: Sequence[MLRun]) -> None:
    """Once the run ended: each metric's whole history (one call per ML run and metric),
    and the pattern metrics read from its logs (one call)."""
    histories: dict[str, list[float]] = {}
    for ml_run in ml_runs:
        for key in ml_run.metrics:
            points = client.metric_history(ml_run.run_id, key)
            histories[key] = [p.value for p in points if p.value is not None]
    patterns = _handle_patterns(handle)
    if patterns and handle.application_id:
        lines = [
            line.log
            for line in client.logs(handle.application_id, handle.name, limit=_LOG_LIMIT, tail=True)
        ]
        for key, values in scan_logs(lines, patterns).items():
            histories.setdefault(key, values)  # ML-run metrics win
    state_of(handle).take_histories(histories)


def refresh_handles(
    client: JobsClient, app_id: str, handles: Sequence[Any], runs: Sequence[JobRun] = ()
) -> None:
    """Bring the metrics of one application's wanted handles up to date: one search.

    The tracker calls it once per tick per application, before it tells the views of the
    runs it just listed (``runs``); a run seen ended gets its histories too. Failures are
    swallowed: metrics are extra, and the next tick tries again.
    """
    wanted = [h for h in handles if state_of(h).wanted and not state_of(h).complete]
    if not wanted:
        return
    ended = {run.name for run in runs if run.is_terminal}
    try:
        found = search_app(client, app_id, {h.name for h in wanted})
        for handle in wanted:
            ml_runs = found.get(handle.name, [])
            state_of(handle).take(_newest(p for run in ml_runs for p in run.metrics.values()))
            if handle.name in ended or handle.run.is_terminal:
                _fill_histories(client, handle, ml_runs)
    except JobmagicError:
        pass


def handle_metrics(handle: Any, *, refresh: bool = False) -> dict[str, float]:
    """``handle.metrics``: fetched on first use (and on ``refresh``), kept current after by
    the tracker; a live run that no tracker follows is fetched again on a read once the
    last fetch is a poll interval old."""
    state = state_of(handle)
    state.wanted = True
    settings = getattr(handle._backend, "settings", None)
    interval = float(getattr(settings, "poll_interval", 2.0))
    stale = not handle.run.is_terminal and time.monotonic() - state.fetched_at > interval
    if (refresh or not state.fetched or stale) and handle.application_id:
        client = handle._backend.client
        if refresh:
            state.complete = False
        refresh_handles(client, handle.application_id, [handle], [handle.run])
    return state.snapshot()[0]


def metric_series(handle: Any) -> dict[str, tuple[float, ...]]:
    """Each metric's values so far (for the card's trend); never makes a request."""
    return state_of(handle).snapshot()[1]


def frame_with_metrics(
    items: Sequence[Any],
    *,
    client: JobsClient | None = None,
    metric_patterns: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[RunKey, RunMetrics]]:
    """``runs_to_dataframe(items, metrics=True)`` and the metrics it found, by run, so views
    of the same runs (a board's handles, :func:`seed_handles`) need no second search."""
    import numpy as np

    from jobmagic.frames import runs_to_dataframe

    fetched = fetch_metrics(items, client=client, metric_patterns=metric_patterns)
    frame = runs_to_dataframe(items)
    columns = metric_columns(items, client=None, metric_patterns=None, fetched=fetched)
    for name, values in columns.items():
        frame[name] = np.asarray(values, dtype="float64")
    found = {
        key: result
        for key, result in zip((run_key(i) for i in items), fetched, strict=True)
        if key is not None
    }
    return frame, found


def seed_handles(handles: Iterable[Any], found: Mapping[RunKey, RunMetrics]) -> None:
    """Give handles metrics already fetched; the tracker keeps the live ones current."""
    for handle in handles:
        result = found.get((handle.application_id, handle.name))
        if result is not None:
            state = state_of(handle)
            state.take(result.latest)
            state.wanted = True


def want_metrics(handle: Any) -> None:
    """Ask the tracker to keep a live handle's metrics current, without fetching now: a
    board of many runs then costs one search per application per tick, not one per run."""
    state_of(handle).wanted = True


def patterns_or_setting(metric_patterns: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The ``metric_patterns=`` argument, else ``%config JobMagic.metric_patterns``."""
    if metric_patterns is not None:
        return metric_patterns
    from jobmagic.public import current_session

    try:
        configured = current_session().settings.metric_patterns
    except (AttributeError, JobmagicError):
        return None
    return dict(configured) or None
