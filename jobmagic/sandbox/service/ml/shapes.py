"""The ML-runs API's JSON shapes, built from rows of the ML tables. Pure.

Shapes follow ``truefoundry-sdk`` 0.6.0's ``Run``, ``RunInfo``, ``RunData``, ``Metric`` and
``MlRepo`` (snake_case, unlike the Jobs API); the tenant and user are the Jobs API's own
(:mod:`jobmagic.sandbox.service.render`).

>>> metric_json({"key": "loss", "value": 0.5, "timestamp_ms": 7, "step": 2})
{'key': 'loss', 'value': 0.5, 'timestamp': 7, 'step': 2}
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from jobmagic.sandbox.service import render

__all__ = ["STORAGE", "metric_json", "repo_json", "run_json", "subject"]

STORAGE = "sandbox:local:artifacts"


def subject() -> dict[str, str]:
    return render.subject_json()


def repo_json(row: sqlite3.Row) -> dict[str, Any]:
    created = datetime.fromtimestamp(row["created_at_ms"] / 1000, tz=timezone.utc)
    manifest: dict[str, Any] = {
        "type": "ml-repo",
        "name": row["name"],
        "storage_integration_fqn": STORAGE,
    }
    if row["description"]:
        manifest["description"] = row["description"]
    return {
        "id": row["id"],
        "tenant_name": render.TENANT,
        "manifest": manifest,
        "created_by_subject": subject(),
        "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "account_id": render.TENANT,
        "num_runs": int(row["num_runs"]),
    }


def metric_json(row: sqlite3.Row | Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": row["key"],
        "value": row["value"],
        "timestamp": row["timestamp_ms"],
        "step": row["step"],
    }


def run_json(
    row: sqlite3.Row,
    tags: Sequence[sqlite3.Row],
    params: Sequence[sqlite3.Row],
    latest: Sequence[sqlite3.Row],
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_uuid": row["id"],
        "run_id": row["id"],
        "experiment_id": row["experiment_id"],
        "name": row["name"],
        "fqn": f"{render.TENANT}/{row['repo_name']}/{row['name']}",
        "user_id": render.USER["slug"],
        "created_by_subject": subject(),
        "status": row["status"],
        "start_time": row["start_time_ms"],
        "artifact_uri": f"sandbox://{row['experiment_id']}/{row['id']}/artifacts",
        "lifecycle_stage": "active",
    }
    if row["end_time_ms"] is not None:
        info["end_time"] = row["end_time_ms"]
    if row["description"]:
        info["description"] = row["description"]
    return {
        "info": info,
        "data": {
            "metrics": [metric_json(m) for m in latest],
            "params": [{"key": p["key"], "value": p["value"]} for p in params],
            "tags": [{"key": t["key"], "value": t["value"]} for t in tags],
        },
    }
