"""A frame's ML-run columns, named as MLflow's ``search_runs`` names them: the ML run's id,
``metrics.<name>`` and ``tags.<key>``. Pure: the ML runs are given (an ``MLRun`` row is its
own; a job run's are those its metrics were found in).

The ML run's id is ``ml_run_id`` (MLflow's ``run_id``): ``name`` stays the job run's name.

>>> from jobmagic.models.ml import MLRun
>>> run = MLRun.from_api({"info": {"run_id": "r1", "start_time": 5},
...     "data": {"metrics": [{"key": "loss", "value": 0.5}], "tags": [{"key": "t", "value": "v"}]}})
>>> {name: values.tolist() for name, values in ml_columns([run], None).items()}
{'ml_run_id': ['r1'], 'metrics.loss': [0.5], 'tags.t': ['v']}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jobmagic.api.metrics import RunMetrics
from jobmagic.frames._dtypes import text_array
from jobmagic.models.ml import MLRun

__all__ = ["has_ml_runs", "ml_columns", "newest_ml_run"]


def has_ml_runs(items: Sequence[Any]) -> bool:
    """Whether any item is an ``MLRun`` (its row brings its own ML-run columns)."""
    # The distinct types, in C: no Python-level check per item (frames of 100k runs).
    return any(issubclass(kind, MLRun) for kind in set(map(type, items)))


def newest_ml_run(ml_runs: Sequence[MLRun]) -> MLRun | None:
    """The ML run a job run's row shows when it logged several: the newest started (the
    last given, of equal starts)."""
    newest: MLRun | None = None
    for run in ml_runs:
        start = run.start_time_ms if run.start_time_ms is not None else -math.inf
        if newest is None or start >= (
            newest.start_time_ms if newest.start_time_ms is not None else -math.inf
        ):
            newest = run
    return newest


def ml_columns(items: Sequence[Any], fetched: Sequence[RunMetrics] | None) -> dict[str, Any]:
    """``ml_run_id``, then ``metrics.<name>`` (floats, NaN where missing) and ``tags.<key>``
    (text), names in first-seen order, one value per item.

    An ``MLRun`` item gives its own id, latest metrics and tags; any other item those of
    ``fetched`` (its :func:`~jobmagic.api.metrics.fetch_metrics` result): the latest metrics
    over its ML runs (and log patterns), the id and tags of the newest ML run.
    """
    runs: list[MLRun | None] = []
    latest: list[Mapping[str, float]] = []
    for index, item in enumerate(items):
        if isinstance(item, MLRun):
            runs.append(item)
            latest.append(item.latest)
        elif fetched is not None:
            runs.append(newest_ml_run(fetched[index].ml_runs))
            latest.append(fetched[index].latest)
        else:
            runs.append(None)
            latest.append({})
    tags = [run.tags if run is not None else {} for run in runs]
    metric_names = dict.fromkeys(name for values in latest for name in values)
    tag_names = dict.fromkeys(key for mapping in tags for key in mapping)
    columns: dict[str, Any] = {
        "ml_run_id": text_array([run.run_id or None if run is not None else None for run in runs])
    }
    for name in metric_names:
        columns[f"metrics.{name}"] = np.asarray(
            [values.get(name, math.nan) for values in latest], dtype="float64"
        )
    for key in tag_names:
        columns[f"tags.{key}"] = text_array([mapping.get(key) for mapping in tags])
    return columns
