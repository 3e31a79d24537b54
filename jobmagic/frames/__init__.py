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
  ``.params`` mapping.

This module imports pandas and numpy at import time; import it lazily from
code that must stay light (``%load_ext``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobmagic._lazy import lazy_attributes
from jobmagic.frames._colors import STATUS_COLORS
from jobmagic.frames._columns import BASE_COLUMNS, Columns, collect, ledger_row_columns
from jobmagic.frames._dtypes import (
    STATUS_ORDER,
    duration_array,
    ints,
    params_columns,
    status_categorical,
    text_array,
    times,
)
from jobmagic.frames._table import style_runs
from jobmagic.frames._timeline import plot_timeline
from jobmagic.ledger import LedgerQuery

if TYPE_CHECKING:
    from jobmagic.api._client import JobsClient
    from jobmagic.ledger import Ledger

__all__ = [
    "BASE_COLUMNS",
    "STATUS_COLORS",
    "STATUS_ORDER",
    "ledger_frame",
    "plot_timeline",
    "runs_to_dataframe",
    "style_runs",
]


def runs_to_dataframe(
    runs: Iterable[Any],
    *,
    params: bool = True,
    metrics: bool = False,
    metric_patterns: Mapping[str, Any] | None = None,
    client: JobsClient | None = None,
) -> pd.DataFrame:
    """Runs (JobRuns, API dicts, LedgerEntries, run handles, mixed) -> a typed DataFrame.

    Columns: ``name application_name status created_at end_time duration
    exit_code total_retries deployment_version triggered_by command error rerun_of``,
    then ``params.<name>`` per param, in order of first appearance (when
    ``params`` is true). Types: ``created_at``/``end_time``
    ``datetime64[ns, UTC]``; ``duration`` ``timedelta64[ns]`` (end − created
    when both are known, to the millisecond, else the API's seconds); ``exit_code`` and
    ``total_retries`` nullable ``Int64``; ``status`` a Categorical of the nine
    statuses in lifecycle order plus any unknown value seen; all text and
    params columns the ``string`` dtype (missing = ``<NA>``).
    ``triggered_by`` is the friendliest name of who triggered the run; ``rerun_of`` the
    name of the run this one repeats (:meth:`jobmagic.RunHandle.rerun`), else missing.

    With ``metrics=True``, one float ``metrics.<name>`` column per metric holds each run's
    latest value (NaN where a run has none): from the runs' ML runs, found with one search
    per application (:mod:`jobmagic.runs.metrics`), and from their logs by ``metric_patterns``
    (``{"acc": r"acc=([0-9.]+)"}``). ``client`` is the one to ask (default: the runs'
    session's).

    >>> df = runs_to_dataframe([{"name": "r1", "status": "PAUSED", "exitCode": "1"}])
    >>> df["status"].cat.categories[-1], df["exit_code"].dtype
    ('PAUSED', Int64Dtype())
    """
    if metrics:
        runs = list(runs)  # read twice: once for the columns, once for the metrics
    data = _typed_columns(collect(runs), params=params)
    if metrics:
        from jobmagic.runs.metrics import metric_columns, patterns_or_setting

        patterns = patterns_or_setting(metric_patterns)
        found = metric_columns(runs, client=client, metric_patterns=patterns)
        for key, values in found.items():
            data[key] = np.asarray(values, dtype="float64")
    return _frame(data)


def _frame(data: dict[str, Any]) -> pd.DataFrame:
    n = len(data["name"])
    # copy=False: every column is a fresh array built above; no need to copy it again.
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _typed_columns(columns: Columns, *, params: bool) -> dict[str, Any]:
    """The 14 raw columns -> the frame's typed columns (see :func:`runs_to_dataframe`)."""
    n = len(columns[0])
    (
        names,
        applications,
        statuses,
        created,
        ended,
        durations,
        exit_codes,
        retries,
        versions,
        triggered_by,
        commands,
        errors,
        reruns,
        row_params,
    ) = columns

    created_at = times(created)
    end_time = times(ended)
    # JobRun.duration_seconds, by columns: end - created (ms precision) where both ends
    # are known, else the server's duration (whole seconds from real servers).
    span = (end_time - created_at).to_numpy(dtype="timedelta64[ns]")
    span = np.where(span < np.timedelta64(0, "ns"), np.timedelta64(0, "ns"), span)
    duration = np.where(np.isnat(span), duration_array(durations), span)

    data: dict[str, Any] = {
        "name": text_array(names, blank_is_missing=True),
        "application_name": text_array(applications),
        "status": status_categorical(statuses),
        "created_at": created_at,
        "end_time": end_time,
        "duration": duration,
        "exit_code": ints(exit_codes),
        "total_retries": ints(retries),
        "deployment_version": text_array(versions),
        "triggered_by": text_array(triggered_by),
        "command": text_array(commands),
        "error": text_array(errors, blank_is_missing=True),
        "rerun_of": text_array(reruns),
    }
    if params:
        for key, values in params_columns(row_params, n).items():
            data[f"params.{key}"] = text_array(values)
    return data


# --- straight from the ledger --------------------------------------------------------

#: What :func:`ledger_frame` reads of each attempt: no ids, hosts or session columns.
_LEDGER_COLUMNS = (
    "run_json",
    "params_json",
    "command",
    "rerun_of",
    "state",
    "created_at",
    "run_name",
    "application_fqn",
    "error_type",
    "error",
)


def ledger_frame(
    ledger: Ledger, query: LedgerQuery | None = None, *, params: bool = True
) -> pd.DataFrame:
    """The attempts ``query`` matches, newest first, as :func:`runs_to_dataframe` makes of
    ``ledger.entries(...)`` (the same columns, dtypes and values), in a fraction of the time.

    Reads only the columns the frame shows and parses each row's JSON once, with no JobRun
    or LedgerEntry per row; then builds each column in one go.

    >>> import tempfile, pathlib
    >>> from jobmagic.ledger import Ledger
    >>> from jobmagic.models import JobRun, RunStatus
    >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
    ...     attempt = ledger.record_attempt(host="h", target="train", params={"lr": "0.1"})
    ...     ledger.record_acknowledged(attempt, JobRun(name="train-x1", status=RunStatus.FAILED))
    ...     ledger_frame(ledger)[["name", "status", "params.lr"]].values.tolist()
    [['train-x1', 'FAILED', '0.1']]
    """
    rows = ledger.rows(query or LedgerQuery(), _LEDGER_COLUMNS)
    return _frame(_typed_columns(ledger_row_columns(rows), params=params))


# Tab completion offers the public names, not what the package imported for itself.
__getattr__, __dir__ = lazy_attributes(__name__, {}, globals())
