"""The ledger's metric cache: each run's latest value of each metric, so listings rank runs
without asking the server. Pure: its statements and the values they bind."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["UPSERT_METRIC", "keys_sql", "metric_rows"]

#: A row changes only when its value or step does, so a quiet refresh writes nothing.
UPSERT_METRIC = (
    "INSERT INTO run_metrics (application_id, run_name, name, value, step, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (application_id, run_name, name) DO UPDATE SET value = excluded.value, "
    "step = excluded.step, updated_at = excluded.updated_at "
    "WHERE run_metrics.value IS NOT excluded.value OR run_metrics.step IS NOT excluded.step"
)


def metric_rows(
    values: Iterable[tuple[str, str, str, float, int | None]], now: str
) -> list[tuple[Any, ...]]:
    """The rows of :data:`UPSERT_METRIC`, the last value of a key winning; NaN is stored as
    NULL (SQLite's own spelling of it). ``ValueError`` for a row without its keys.

    >>> metric_rows([("app", "r1", "loss", 0.5, 3), ("app", "r1", "loss", 0.4, 4)], "T")
    [('app', 'r1', 'loss', 0.4, 4, 'T')]
    """
    rows: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for application_id, run_name, name, value, step in values:
        if not application_id or not run_name or not name:
            raise ValueError(
                "a cached metric needs its application id, run name and metric name, got "
                f"{(application_id, run_name, name)!r}"
            )
        number = float(value)
        stored = None if math.isnan(number) else number
        key = (str(application_id), str(run_name), str(name))
        rows[key] = (*key, stored, None if step is None else int(step), now)
    return list(rows.values())


def keys_sql(keys: Sequence[tuple[str, str]]) -> tuple[str, list[Any]]:
    """The cached metrics of the runs ``keys`` ((application id, run name) pairs).

    >>> keys_sql([("app", "r1")])[1]
    ['app', 'r1']
    """
    args = [item for key in keys for item in key]
    sql = (
        f"WITH wanted(application_id, run_name) AS (VALUES {', '.join(['(?, ?)'] * len(keys))}) "
        "SELECT m.application_id, m.run_name, m.name, m.value FROM wanted AS w "
        "JOIN run_metrics AS m ON m.application_id = w.application_id "
        "AND m.run_name = w.run_name"
    )
    return sql, args
