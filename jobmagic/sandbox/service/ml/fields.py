"""The fields of an ML-runs request body, typed, or the API's 422 naming the field. Pure.

>>> pairs({"tags": [{"key": "a", "value": "1"}]}, "tags")
[('a', '1')]
>>> metric_point({"key": "loss", "value": 0.5, "step": 2, "timestamp": 7}, "body")
('loss', 0.5, 7, 2)
>>> number({"start_time": "soon"}, "start_time")
Traceback (most recent call last):
...
jobmagic.sandbox.errors.ApiProblem: start_time: must be a finite number
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from jobmagic.sandbox.errors import ApiProblem

__all__ = [
    "body_object",
    "integer",
    "metric_point",
    "number",
    "page_start",
    "pairs",
    "strings",
    "text",
]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def body_object(body: Any, field: str = "body") -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiProblem.validation([{"field": field, "message": "must be a JSON object"}])
    return body


def text(
    body: Mapping[str, Any], key: str, *, required: bool = False, allow_empty: bool = False
) -> Any:
    value = body.get(key)
    if value is None or (value == "" and not allow_empty and not required):
        if required:
            raise ApiProblem.validation([{"field": key, "message": "is required"}])
        return "" if allow_empty and value == "" else None
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ApiProblem.validation([{"field": key, "message": "must be a non-empty string"}])
    return value


def number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiProblem.validation([{"field": key, "message": "must be a finite number"}])
    return float(value)


def integer(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = number(body, key)
    if value is None:
        return default
    if value != int(value) or not low <= value <= high:
        raise ApiProblem.validation([{"field": key, "message": f"must be an integer {low}-{high}"}])
    return int(value)


def page_start(body: Mapping[str, Any]) -> int:
    token = body.get("page_token")
    if token not in (None, ""):
        if not isinstance(token, str) or not token.isdigit():
            raise ApiProblem.validation(
                [{"field": "page_token", "message": "is not a token this server gave"}]
            )
        return int(token)
    return integer(body, "offset", 0, 0, 2**31)


def strings(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiProblem.validation([{"field": key, "message": "must be a list of strings"}])
    return list(value)


def pairs(body: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiProblem.validation([{"field": key, "message": "must be a list of {key, value}"}])
    pairs = []
    for index, item in enumerate(value):
        field = f"{key}[{index}]"
        item = body_object(item, field)
        name, text = item.get("key"), item.get("value")
        if not isinstance(name, str) or not name or not isinstance(text, str):
            raise ApiProblem.validation(
                [{"field": field, "message": "must be {key: non-empty string, value: string}"}]
            )
        pairs.append((name, text))
    return pairs


def metric_point(item: Mapping[str, Any], field: str) -> tuple[str, float, int, int]:
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise ApiProblem.validation(
            [{"field": f"{field}.key", "message": "must be a non-empty string"}]
        )
    value = number(item, "value")
    if value is None:
        raise ApiProblem.validation([{"field": f"{field}.value", "message": "is required"}])
    timestamp = number(item, "timestamp")
    step = number(item, "step")
    if step is not None and step != int(step):
        raise ApiProblem.validation([{"field": f"{field}.step", "message": "must be an integer"}])
    return key, value, int(timestamp if timestamp is not None else _now_ms()), int(step or 0)
