"""The ML-runs API's requests and responses, as pure data (see :mod:`._endpoints`).

Paths and bodies are those ``truefoundry-sdk`` 0.6.0 sends. A search is a POST that changes
nothing, so it is retried like a read.

>>> equals("tags.TFY_INTERNAL_JOB_RUN_NAME", "it's")
"tags.TFY_INTERNAL_JOB_RUN_NAME = 'it\\\\'s'"
>>> search_runs(filter="metrics.loss < 1", max_results=10).json
{'filter': 'metrics.loss < 1', 'max_results': 10, 'run_view_type': 'ACTIVE_ONLY'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jobmagic.api.endpoints import ApiRequest, _require_mapping, _seg
from jobmagic.errors import TransportError
from jobmagic.models.ml import Metric, MLRepo, MLRun

__all__ = [
    "equals",
    "get_ml_repo",
    "get_ml_run",
    "list_ml_repos",
    "metric_history",
    "parse_metric_history",
    "parse_ml_repo",
    "parse_ml_repos",
    "parse_ml_run",
    "parse_search",
    "search_runs",
]

MAX_SEARCH_PAGE = 1000


def equals(field: str, value: str) -> str:
    """A filter condition ``field = 'value'``, the value quoted so no text can break out."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"{field} = '{escaped}'"


def search_runs(
    *,
    filter: str | None = None,
    experiment_ids: Sequence[str] | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = MAX_SEARCH_PAGE,
    page_token: str | None = None,
) -> ApiRequest:
    body: dict[str, Any] = {}
    if filter:
        body["filter"] = filter
    if experiment_ids:
        body["experiment_ids"] = list(experiment_ids)
    if order_by:
        body["order_by"] = list(order_by)
    body["max_results"] = max_results
    body["run_view_type"] = "ACTIVE_ONLY"
    if page_token:
        body["page_token"] = page_token
    return ApiRequest("POST", "/runs/search", json=body, idempotent=True)


def get_ml_run(run_id: str) -> ApiRequest:
    return ApiRequest("GET", f"/runs/{_seg(run_id, 'run_id')}")


def metric_history(run_id: str, key: str) -> ApiRequest:
    return ApiRequest(
        "GET", f"/runs/{_seg(run_id, 'run_id')}/metrics/history", query=[("metric_key", key)]
    )


def list_ml_repos(*, name: str | None = None, limit: int = 100, offset: int = 0) -> ApiRequest:
    query: list[tuple[str, str | int | float | bool | None]] = [
        ("limit", str(limit)),
        ("offset", str(offset)),
    ]
    if name:
        query.append(("name", name))
    return ApiRequest("GET", "/ml-repos", query=query)


def get_ml_repo(repo_id: str) -> ApiRequest:
    return ApiRequest("GET", f"/ml-repos/{_seg(repo_id, 'repo_id')}")


# --- parsers --------------------------------------------------------------------------


def _list(body: Any, key: str, what: str) -> list[Mapping[str, Any]]:
    items = _require_mapping(body, what).get(key)
    if not isinstance(items, list):
        raise TransportError(f"The server's answer to {what} had no list of {key}.")
    return [item for item in items if isinstance(item, Mapping)]


def parse_search(body: Any) -> tuple[list[MLRun], str | None]:
    """One page of ML runs and the token of the next page (``None`` on the last)."""
    runs = [MLRun.from_api(item) for item in _list(body, "runs", "an ML run search")]
    token = _require_mapping(body, "an ML run search").get("next_page_token")
    return runs, token if isinstance(token, str) and token else None


def parse_ml_run(body: Any) -> MLRun:
    run = _require_mapping(body, "an ML run lookup").get("run")
    return MLRun.from_api(_require_mapping(run, "an ML run lookup"))


def parse_metric_history(body: Any) -> list[Metric]:
    return [Metric.from_api(item) for item in _list(body, "metrics", "a metric history")]


def parse_ml_repos(body: Any) -> list[MLRepo]:
    return [MLRepo.from_api(item) for item in _list(body, "data", "an ML repo listing")]


def parse_ml_repo(body: Any) -> MLRepo:
    data = _require_mapping(body, "an ML repo lookup").get("data")
    return MLRepo.from_api(_require_mapping(data, "an ML repo lookup"))
