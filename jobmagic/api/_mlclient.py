"""The ML-runs methods of :class:`JobsClient` and :class:`AsyncJobsClient`.

They are mixins over the clients' one driver (``_drive``), so the ML calls share the Jobs
calls' connection, credentials, error mapping and retry policy: a search is retried like a
read, and errors are the same typed exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from jobmagic.api import _mlendpoints as mlep
from jobmagic.api import _mlflows as mlflows
from jobmagic.api._flows import Flow, single
from jobmagic.mlmodels import Metric, MLRepo, MLRun

__all__ = ["AsyncMLRunsMethods", "MLRunsMethods"]

T = TypeVar("T")


class MLRunsMethods:
    """ML runs: where a job's code logs its metrics (``truefoundry.ml``)."""

    def _drive(self, flow: Flow[T]) -> T:  # provided by JobsClient
        raise NotImplementedError

    def search_ml_runs(
        self,
        filter: str | None = None,
        *,
        experiment_ids: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        page_size: int = 1000,
        stop_when: Callable[[Sequence[MLRun]], bool] | None = None,
    ) -> list[MLRun]:
        """ML runs matching ``filter``, across all pages (at most ``limit``).

        ``filter`` is SQL-like over ``tags.``, ``params.``, ``metrics.`` and ``attributes.``
        joined by ``and`` (``"tags.TFY_INTERNAL_APPLICATION_ID = 'app-1' and metrics.loss <
        0.5"``); ``order_by`` e.g. ``["metrics.loss ASC"]`` (default: newest first).
        ``stop_when(runs so far)`` ends paging early once it holds.
        """
        return self._drive(
            mlflows.search_ml_runs(
                filter=filter,
                experiment_ids=experiment_ids,
                order_by=order_by,
                limit=limit,
                page_size=page_size,
                stop_when=stop_when,
            )
        )

    def get_ml_run(self, run_id: str) -> MLRun:
        """One ML run by id, with its latest metrics, params and tags."""
        return self._drive(single(mlep.get_ml_run(run_id), mlep.parse_ml_run))

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of metric ``key`` of an ML run, by step."""
        return self._drive(single(mlep.metric_history(run_id, key), mlep.parse_metric_history))

    def find_ml_repo(self, name: str) -> MLRepo:
        """An ML repo by name (``NotFoundError`` if there is none)."""
        return self._drive(mlflows.find_ml_repo(name))

    def get_ml_repo(self, repo_id: str) -> MLRepo:
        """An ML repo by id."""
        return self._drive(single(mlep.get_ml_repo(repo_id), mlep.parse_ml_repo))


class AsyncMLRunsMethods:
    """The awaitable twins of :class:`MLRunsMethods`."""

    async def _drive(self, flow: Flow[T]) -> T:  # provided by AsyncJobsClient
        raise NotImplementedError

    async def search_ml_runs(
        self,
        filter: str | None = None,
        *,
        experiment_ids: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        page_size: int = 1000,
        stop_when: Callable[[Sequence[MLRun]], bool] | None = None,
    ) -> list[MLRun]:
        """See :meth:`MLRunsMethods.search_ml_runs`."""
        return await self._drive(
            mlflows.search_ml_runs(
                filter=filter,
                experiment_ids=experiment_ids,
                order_by=order_by,
                limit=limit,
                page_size=page_size,
                stop_when=stop_when,
            )
        )

    async def get_ml_run(self, run_id: str) -> MLRun:
        return await self._drive(single(mlep.get_ml_run(run_id), mlep.parse_ml_run))

    async def metric_history(self, run_id: str, key: str) -> list[Metric]:
        request = mlep.metric_history(run_id, key)
        return await self._drive(single(request, mlep.parse_metric_history))

    async def find_ml_repo(self, name: str) -> MLRepo:
        return await self._drive(mlflows.find_ml_repo(name))

    async def get_ml_repo(self, repo_id: str) -> MLRepo:
        return await self._drive(single(mlep.get_ml_repo(repo_id), mlep.parse_ml_repo))
