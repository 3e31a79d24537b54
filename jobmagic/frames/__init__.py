"""Runs as a typed pandas DataFrame, and a Gantt-style picture of them.

>>> from jobmagic.models import JobRun, RunStatus
>>> df = runs_to_dataframe([
...     {"name": "train-a", "status": "FINISHED", "createdAt": 1700000000000, "duration": 12.5,
...      "exitCode": 0, "params": {"lr": "0.1"}},
...     JobRun(name="train-b", status=RunStatus.RUNNING),
... ])
>>> list(df["name"]), str(df["duration"][0]), df["params.lr"].tolist()
(['train-a', 'train-b'], '0 days 00:00:12.500000', ['0.1', <NA>])

Inputs, mixed freely in one iterable:

- :class:`~jobmagic.models.JobRun` objects (no params);
- raw API dicts — the camelCase JobRun JSON. A top-level ``"params"`` mapping,
  if present, gives the run's params (the API's JobRun has none; it is how a
  caller attaches the params it sent), and ``"rerun_of"`` the run it repeats;
- :class:`~jobmagic.ledger.LedgerEntry` objects; an entry whose trigger was
  never acknowledged has no run, so its row shows the attempt: no name,
  status ``PENDING`` / ``REJECTED`` / ``UNKNOWN`` / ``NOT-CREATED`` / ``AMBIGUOUS`` (the
  attempt state), the attempt's time as ``created_at``, and its error;
- run handles: any object with a ``.run`` (JobRun) and, optionally, a
  ``.params`` mapping (and a ``.sweep`` name);
- :class:`~jobmagic.models.ml.MLRun` objects (``JobsClient.search_ml_runs``): a row each,
  with its ``ml_run_id``, ``metrics.*`` and ``tags.*`` (MLflow's ``search_runs`` names).

This module imports pandas and numpy at import time; import it lazily from
code that must stay light (``%load_ext``).
"""

from __future__ import annotations

from jobmagic._lazy import lazy_attributes
from jobmagic.frames._colors import STATUS_COLORS
from jobmagic.frames._columns import BASE_COLUMNS
from jobmagic.frames._convert import frame_with_metrics, ledger_frame, runs_to_dataframe
from jobmagic.frames._dtypes import STATUS_ORDER
from jobmagic.frames._table import style_runs
from jobmagic.frames._timeline import plot_timeline

__all__ = [
    "BASE_COLUMNS",
    "STATUS_COLORS",
    "STATUS_ORDER",
    "frame_with_metrics",
    "ledger_frame",
    "plot_timeline",
    "runs_to_dataframe",
    "style_runs",
]


# Tab completion offers the public names, not what the package imported for itself.
__getattr__, __dir__ = lazy_attributes(__name__, {}, globals())
