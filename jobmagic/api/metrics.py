"""The latest metrics of many job runs, read through the client: one ML-run search per
application (paged, stopping once every wanted run is found), plus one log read per run for
metrics given as log patterns (:mod:`jobmagic.models.metrics`). ML-run metrics win over
patterns for the same name.

A job's code logs metrics to an ML run tagged with the job run's name and application id
(``truefoundry.ml`` does it inside every pod).

>>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "2"})
>>> _ = run.wait(timeout=60)
>>> [sorted(found.latest) for found in fetch_metrics([run], client=run.client)]
[['accuracy', 'loss']]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobmagic.api._mlendpoints import equals
from jobmagic.models import JobRun
from jobmagic.models.metrics import RunKey, compile_patterns, scan_logs
from jobmagic.models.ml import APPLICATION_TAG, JOB_RUN_TAG, MLRun

if TYPE_CHECKING:
    from jobmagic.api._client import JobsClient

__all__ = [
    "LOG_LIMIT",
    "RunMetrics",
    "fetch_metrics",
    "logged_values",
    "metric_columns",
    "newest_values",
    "run_key",
    "search_app",
]

#: Patterns read a run's last this-many log lines (the newest values are what count).
LOG_LIMIT = 5000


@dataclass(frozen=True)
class RunMetrics:
    """One job run's metrics: ``latest`` values, the ML runs they came from, and the
    histories read from its logs by pattern (``{name: [values in order]}``)."""

    latest: Mapping[str, float]
    ml_runs: tuple[MLRun, ...] = ()
    from_logs: Mapping[str, Sequence[float]] | None = None


def newest_values(ml_runs: Iterable[MLRun]) -> dict[str, float]:
    """Each metric's latest value (highest step, then newest) across ``ml_runs``."""
    best: dict[str, tuple[float, float, float]] = {}
    for point in (point for run in ml_runs for point in run.metrics.values()):
        if point.value is None:
            continue
        rank = (float(point.step or 0), point.timestamp_ms or 0.0)
        if point.key not in best or rank >= best[point.key][:2]:
            best[point.key] = (*rank, point.value)
    return {key: value[2] for key, value in best.items()}


def logged_values(
    client: JobsClient, key: RunKey, patterns: Mapping[str, re.Pattern[str]]
) -> dict[str, list[float]]:
    """Every value ``patterns`` find in the run's last :data:`LOG_LIMIT` log lines: one read."""
    app_id, name = key
    lines = [line.log for line in client.logs(app_id, name, limit=LOG_LIMIT, tail=True)]
    return scan_logs(lines, patterns)


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
    client: JobsClient,
    metric_patterns: Mapping[str, Any] | None = None,
) -> list[RunMetrics]:
    """The metrics of each run, in input order (runs with no known application get none)."""
    items = list(runs)
    keys = [run_key(item) for item in items]
    patterns = compile_patterns(metric_patterns)
    if not any(keys):
        return [RunMetrics({}) for _ in items]
    by_app: dict[str, set[str]] = {}
    for key in keys:
        if key is not None:
            by_app.setdefault(key[0], set()).add(key[1])
    ml: dict[RunKey, list[MLRun]] = {}
    for app_id, names in by_app.items():
        for name, found in search_app(client, app_id, names).items():
            ml[(app_id, name)] = found
    results = []
    for key in keys:
        if key is None:
            results.append(RunMetrics({}))
            continue
        ml_runs = tuple(ml.get(key, ()))
        latest = newest_values(ml_runs)
        from_logs = None
        if patterns and not set(patterns) <= set(latest):
            from_logs = logged_values(client, key, patterns)
            for name, values in from_logs.items():
                latest.setdefault(name, values[-1])  # ML-run metrics win
        results.append(RunMetrics(latest, ml_runs, from_logs))
    return results


def metric_columns(
    *,
    fetched: Sequence[RunMetrics],
) -> dict[str, list[float]]:
    """``{"metrics.<name>": [latest value or NaN per run]}``, names in first-seen order,
    from the runs' :func:`fetch_metrics`."""
    names: dict[str, None] = {}
    for result in fetched:
        names.update(dict.fromkeys(result.latest))
    return {
        f"metrics.{name}": [float(r.latest.get(name, math.nan)) for r in fetched] for name in names
    }


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
