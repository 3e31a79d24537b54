"""Typed views of TrueFoundry's ML runs (experiment tracking): where a job's metrics live.

The JSON is snake_case, unlike the Jobs API's; parsing is as tolerant as
:mod:`jobmagic.models` (unknown fields ignored, numbers sent as strings accepted, nothing
raises). A job run's ML runs carry its name and application id as the tags
:data:`JOB_RUN_TAG` and :data:`APPLICATION_TAG`, set by ``truefoundry.ml`` inside the pod.

>>> run = MLRun.from_api({"info": {"run_id": "r1", "name": "train-x", "status": "RUNNING"},
...     "data": {"metrics": [{"key": "loss", "value": 0.25, "step": 3, "timestamp": 0}],
...              "tags": [{"key": "TFY_INTERNAL_JOB_RUN_NAME", "value": "train-x1"}]}})
>>> run.job_run_name, run.latest["loss"], run.metrics["loss"].step
('train-x1', 0.25, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobmagic.models import iso_to_datetime, ms_to_datetime

__all__ = ["APPLICATION_TAG", "JOB_RUN_TAG", "MLRepo", "MLRun", "Metric"]

#: The tags ``truefoundry.ml`` gives every ML run created inside a job's pod.
JOB_RUN_TAG = "TFY_INTERNAL_JOB_RUN_NAME"
APPLICATION_TAG = "TFY_INTERNAL_APPLICATION_ID"


_NUMBERS = (int, float)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def _pairs(items: Any) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {
        str(item["key"]): _str(item.get("value")) or ""
        for item in items
        if isinstance(item, Mapping) and item.get("key") is not None
    }


@dataclass(frozen=True, slots=True)
class Metric:
    """One point of a metric: its value at a step (``timestamp_ms`` since the epoch)."""

    key: str
    value: float | None = None
    step: int | None = None
    timestamp_ms: float | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Metric:
        # type() fast paths: a search answer holds thousands of points.
        key: Any = data.get("key")
        value: Any = data.get("value")
        step: Any = data.get("step")
        stamp: Any = data.get("timestamp")
        step = step if type(step) is int else _float(step)
        return cls(
            key=key if type(key) is str else _str(key) or "",
            value=float(value) if type(value) in _NUMBERS else _float(value),
            step=None if step is None else int(step),
            timestamp_ms=float(stamp) if type(stamp) in _NUMBERS else _float(stamp),
        )

    @property
    def time(self) -> datetime | None:
        return ms_to_datetime(self.timestamp_ms)


@dataclass(frozen=True)
class MLRun:
    """An ML run: its identity, and its latest metrics, params and tags."""

    run_id: str
    name: str = ""
    experiment_id: str | None = None
    fqn: str | None = None
    status: str | None = None
    start_time_ms: float | None = None
    end_time_ms: float | None = None
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MLRun:
        """Parse one ``Run`` object (``{info, data}``); never raises."""
        info = data.get("info")
        info = info if isinstance(info, Mapping) else {}
        body = data.get("data")
        body = body if isinstance(body, Mapping) else {}
        raw_metrics = body.get("metrics")
        metrics: dict[str, Metric] = {}
        for item in raw_metrics if isinstance(raw_metrics, list) else ():
            if isinstance(item, Mapping):
                metric = Metric.from_api(item)
                if metric.key:
                    metrics[metric.key] = metric
        return cls(
            run_id=_str(info.get("run_id") or info.get("run_uuid")) or "",
            name=_str(info.get("name")) or "",
            experiment_id=_str(info.get("experiment_id")),
            fqn=_str(info.get("fqn")),
            status=_str(info.get("status")),
            start_time_ms=_float(info.get("start_time")),
            end_time_ms=_float(info.get("end_time")),
            metrics=metrics,
            params=_pairs(body.get("params")),
            tags=_pairs(body.get("tags")),
        )

    @property
    def start_time(self) -> datetime | None:
        return ms_to_datetime(self.start_time_ms)

    @property
    def end_time(self) -> datetime | None:
        return ms_to_datetime(self.end_time_ms)

    @property
    def latest(self) -> dict[str, float]:
        """``{metric: latest value}`` (metrics without a value left out)."""
        return {k: m.value for k, m in self.metrics.items() if m.value is not None}

    @property
    def job_run_name(self) -> str | None:
        """The job run that logged this ML run, from its tag."""
        return self.tags.get(JOB_RUN_TAG)

    @property
    def application_id(self) -> str | None:
        return self.tags.get(APPLICATION_TAG)


@dataclass(frozen=True)
class MLRepo:
    """An ML repo (an MLflow experiment): ``id`` is what runs call ``experiment_id``."""

    id: str
    name: str = ""
    description: str | None = None
    num_runs: int | None = None
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MLRepo:
        manifest = data.get("manifest")
        manifest = manifest if isinstance(manifest, Mapping) else {}
        runs = _float(data.get("num_runs"))
        return cls(
            id=_str(data.get("id")) or "",
            name=_str(manifest.get("name")) or "",
            description=_str(manifest.get("description")),
            num_runs=None if runs is None else int(runs),
            created_at=iso_to_datetime(data.get("created_at")),
        )
