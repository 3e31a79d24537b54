"""The ML-runs methods of :class:`JobsClient` and :class:`AsyncJobsClient`, one table for both.

They are entries of the clients' one method table (:mod:`jobmagic.api._methods`), so the ML
calls share the Jobs calls' connection, credentials, error mapping and retry policy: a
search is retried like a read, and errors are the same typed exceptions.

>>> from jobmagic.api._methods import ApiMethod
>>> sorted(name for name, value in vars(MLRunsMethods).items() if isinstance(value, ApiMethod))
['find_ml_repo', 'get_ml_repo', 'get_ml_run', 'metric_history', 'search_ml_runs']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jobmagic.api import _mlendpoints as mlep
from jobmagic.api import _mlflows as mlflows
from jobmagic.api._flows import Flow, single
from jobmagic.api._methods import api_method
from jobmagic.models.ml import Metric, MLRepo, MLRun

__all__ = ["MLRunsMethods"]


class MLRunsMethods:
    """ML runs: where a job's code logs its metrics (``truefoundry.ml``)."""

    @api_method
    def search_ml_runs(
        self,
        filter: str | None = None,
        *,
        experiment_ids: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        page_size: int = 1000,
        stop_when: Callable[[Sequence[MLRun]], bool] | None = None,
    ) -> Flow[list[MLRun]]:
        """ML runs matching ``filter``, across all pages (at most ``limit``).

        ``filter`` is MLflow's search grammar over ``tags.``, ``params.``, ``metrics.`` and
        ``attributes.`` joined by ``and`` (``"tags.TFY_INTERNAL_APPLICATION_ID = 'app-1' and
        metrics.loss < 0.5"``, ``"attributes.run_id IN ('a', 'b')"``, ``"tags.x IS NULL"``);
        ``order_by`` e.g. ``["metrics.loss ASC"]`` (default: newest first).
        ``stop_when(runs so far)`` ends paging early once it holds.
        """
        return mlflows.search_ml_runs(
            filter=filter,
            experiment_ids=experiment_ids,
            order_by=order_by,
            limit=limit,
            page_size=page_size,
            stop_when=stop_when,
        )

    @api_method
    def get_ml_run(self, run_id: str) -> Flow[MLRun]:
        """One ML run by id, with its latest metrics, params and tags."""
        return single(mlep.get_ml_run(run_id), mlep.parse_ml_run)

    @api_method
    def metric_history(self, run_id: str, key: str) -> Flow[list[Metric]]:
        """Every logged point of metric ``key`` of an ML run, by step."""
        return single(mlep.metric_history(run_id, key), mlep.parse_metric_history)

    @api_method
    def find_ml_repo(self, name: str) -> Flow[MLRepo]:
        """An ML repo by name (``NotFoundError`` if there is none)."""
        return mlflows.find_ml_repo(name)

    @api_method
    def get_ml_repo(self, repo_id: str) -> Flow[MLRepo]:
        """An ML repo by id."""
        return single(mlep.get_ml_repo(repo_id), mlep.parse_ml_repo)
