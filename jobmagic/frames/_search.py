"""A server-side ML-run search straight into a DataFrame, as MLflow's ``search_runs`` gives.

The search pages through the server's answers (``next_page_token``) until ``max_results``
runs or the last page; the frame is :func:`~jobmagic.frames.runs_to_dataframe` of the ML
runs found: ``name`` (the job run that logged each), ``ml_run_id``, ``status``, times,
``params.*``, ``metrics.*`` and ``tags.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from jobmagic.api._mlendpoints import equals
from jobmagic.frames._convert import ml_runs_frame
from jobmagic.models.ml import APPLICATION_TAG

if TYPE_CHECKING:
    from jobmagic.api import JobsClient

__all__ = ["scoped_filter", "search_frame"]


def scoped_filter(filter_string: str, application_id: str | None) -> str:
    """``filter_string`` kept to one application's ML runs (by the tag ``truefoundry.ml``
    sets); the caller's conditions first, so the server's character positions in an error
    still point into them.

    >>> scoped_filter("metrics.loss < 1", "app-1")
    "metrics.loss < 1 and tags.TFY_INTERNAL_APPLICATION_ID = 'app-1'"
    >>> scoped_filter("", None)
    ''
    """
    scope = equals(f"tags.{APPLICATION_TAG}", application_id) if application_id else ""
    return " and ".join(part for part in (filter_string.strip(), scope) if part)


def search_frame(
    client: JobsClient,
    *,
    filter_string: str = "",
    application_id: str | None = None,
    experiment_ids: Sequence[str] | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int,
) -> pd.DataFrame:
    """The ML runs a search finds (at most ``max_results``, every page up to it) as a frame."""
    if isinstance(order_by, str):
        order_by = [order_by]  # one item given bare, as it often is
    found = client.search_ml_runs(
        scoped_filter(filter_string, application_id) or None,
        experiment_ids=experiment_ids,
        order_by=order_by,
        limit=max_results,
    )
    return ml_runs_frame(found)
