"""The ML-runs flows (see :mod:`._flows`): paging a search, finding a repo by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jobmagic.api import _mlendpoints as mlep
from jobmagic.api._flows import Flow
from jobmagic.errors import NotFoundError
from jobmagic.models.ml import MLRepo, MLRun

__all__ = ["find_ml_repo", "search_ml_runs"]


def search_ml_runs(
    *,
    filter: str | None,
    experiment_ids: Sequence[str] | None,
    order_by: Sequence[str] | None,
    limit: int | None,
    page_size: int,
    stop_when: Callable[[Sequence[MLRun]], bool] | None = None,
) -> Flow[list[MLRun]]:
    """Every page of a search (following ``next_page_token``) until ``limit`` runs, or
    until ``stop_when(runs so far)`` holds."""
    runs: list[MLRun] = []
    token: str | None = None
    page_size = max(1, min(page_size, mlep.MAX_SEARCH_PAGE))
    while limit is None or len(runs) < limit:
        want = page_size if limit is None else min(page_size, limit - len(runs))
        body = yield mlep.search_runs(
            filter=filter,
            experiment_ids=experiment_ids,
            order_by=order_by,
            max_results=want,
            page_token=token,
        )
        page, token = mlep.parse_search(body)
        runs.extend(page)
        if token is None or not page or (stop_when is not None and stop_when(runs)):
            break
    return runs


def find_ml_repo(name: str) -> Flow[MLRepo]:
    """An ML repo by its name."""
    request = mlep.list_ml_repos(name=name, limit=10)
    body = yield request
    repos = [repo for repo in mlep.parse_ml_repos(body) if repo.name == name]
    if not repos:
        raise NotFoundError(
            f"No ML repo named {name!r} on this host. Check the name in the ML Repos page "
            "of TrueFoundry (the sandbox has one named 'demo').",
            status_code=404,
            method="GET",
            path=request.url_path,
        )
    return repos[0]
