"""The ML-runs API's JSON shapes and request-body checks, for :mod:`.mlruns`. Pure.

Shapes follow ``truefoundry-sdk`` 0.6.0's ``Run``, ``RunInfo``, ``RunData``, ``Metric`` and
``MlRepo`` (snake_case, unlike the Jobs API); a body that does not fit raises the API's 422
naming the field.

>>> pairs({"tags": [{"key": "a", "value": "1"}]}, "tags")
[('a', '1')]
>>> metric_point({"key": "loss", "value": 0.5, "step": 2, "timestamp": 7}, "body")
('loss', 0.5, 7, 2)
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from jobmagic.sandbox import render
from jobmagic.sandbox.errors import ApiError

__all__ = [
    "body_object",
    "integer",
    "metric_json",
    "metric_point",
    "number",
    "page_start",
    "pairs",
    "repo_json",
    "run_json",
    "strings",
    "subject",
    "text",
]

STORAGE = "sandbox:local:artifacts"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


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


def metric_json(row: sqlite3.Row) -> dict[str, Any]:
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


# --- request bodies: pure ---------------------------------------------------------------


def body_object(body: Any, field: str = "body") -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiError.validation([{"field": field, "message": "must be a JSON object"}])
    return body


def text(
    body: Mapping[str, Any], key: str, *, required: bool = False, allow_empty: bool = False
) -> Any:
    value = body.get(key)
    if value is None or (value == "" and not allow_empty and not required):
        if required:
            raise ApiError.validation([{"field": key, "message": "is required"}])
        return "" if allow_empty and value == "" else None
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ApiError.validation([{"field": key, "message": "must be a non-empty string"}])
    return value


def number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError.validation([{"field": key, "message": "must be a finite number"}])
    return float(value)


def integer(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = number(body, key)
    if value is None:
        return default
    if value != int(value) or not low <= value <= high:
        raise ApiError.validation([{"field": key, "message": f"must be an integer {low}-{high}"}])
    return int(value)


def page_start(body: Mapping[str, Any]) -> int:
    token = body.get("page_token")
    if token not in (None, ""):
        if not isinstance(token, str) or not token.isdigit():
            raise ApiError.validation(
                [{"field": "page_token", "message": "is not a token this server gave"}]
            )
        return int(token)
    return integer(body, "offset", 0, 0, 2**31)


def strings(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError.validation([{"field": key, "message": "must be a list of strings"}])
    return list(value)


def pairs(body: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError.validation([{"field": key, "message": "must be a list of {key, value}"}])
    pairs = []
    for index, item in enumerate(value):
        field = f"{key}[{index}]"
        item = body_object(item, field)
        name, text = item.get("key"), item.get("value")
        if not isinstance(name, str) or not name or not isinstance(text, str):
            raise ApiError.validation(
                [{"field": field, "message": "must be {key: non-empty string, value: string}"}]
            )
        pairs.append((name, text))
    return pairs


def metric_point(item: Mapping[str, Any], field: str) -> tuple[str, float, int, int]:
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise ApiError.validation(
            [{"field": f"{field}.key", "message": "must be a non-empty string"}]
        )
    value = number(item, "value")
    if value is None:
        raise ApiError.validation([{"field": f"{field}.value", "message": "is required"}])
    timestamp = number(item, "timestamp")
    step = number(item, "step")
    if step is not None and step != int(step):
        raise ApiError.validation([{"field": f"{field}.step", "message": "must be an integer"}])
    return key, value, int(timestamp if timestamp is not None else _now_ms()), int(step or 0)
