"""jobmagic: trigger and watch TrueFoundry jobs from Jupyter.

In a notebook::

    %load_ext jobmagic

    %%trigger_job my-cluster:my-workspace:train --wait -o run
    lr: 0.01
    epochs: 10

From Python::

    import jobmagic
    run = jobmagic.trigger("my-cluster:my-workspace:train", {"lr": "0.01"})
    jobmagic.runs_to_dataframe([run])

Names load on first use, so ``%load_ext jobmagic`` does not import pandas,
ipywidgets or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobmagic import _moved
from jobmagic._lazy import lazy_attributes
from jobmagic._version import __version__
from jobmagic.errors import (
    APIError,
    AuthError,
    ConfigError,
    ConflictError,
    JobmagicError,
    NotFoundError,
    ParamsError,
    RateLimitedError,
    ServerError,
    TransportError,
    TriggerOutcomeUnknown,
    ValidationError,
)

if TYPE_CHECKING:
    from jobmagic.api import AsyncJobsClient, JobsClient
    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.search_result import SearchResult
    from jobmagic.domain.sweeps import SweepResult
    from jobmagic.frames import plot_timeline, runs_to_dataframe
    from jobmagic.frames.metric_views import compare, metric_history, plot_metric
    from jobmagic.ledger import Ledger
    from jobmagic.models import (
        Application,
        Event,
        JobRun,
        LogLine,
        RunStatus,
        Subject,
        TriggerResult,
    )
    from jobmagic.models.ml import Metric, MLRepo, MLRun
    from jobmagic.public import (
        TriggerForm,
        attach,
        load_sweep,
        recover_ledger,
        runs,
        search,
        search_runs,
        sweep,
        sweeps,
        trigger,
    )

_LAZY = {
    # The models too: %load_ext needs none of them (their dataclasses take ~10 ms to build).
    "Application": "jobmagic.models",
    "Event": "jobmagic.models",
    "JobRun": "jobmagic.models",
    "LogLine": "jobmagic.models",
    "RunStatus": "jobmagic.models",
    "Subject": "jobmagic.models",
    "TriggerResult": "jobmagic.models",
    "JobsClient": "jobmagic.api._client",
    "AsyncJobsClient": "jobmagic.api._client",
    "runs_to_dataframe": "jobmagic.frames",
    "plot_timeline": "jobmagic.frames",
    "compare": "jobmagic.frames.metric_views",
    "metric_history": "jobmagic.frames.metric_views",
    "plot_metric": "jobmagic.frames.metric_views",
    "MLRun": "jobmagic.models.ml",
    "MLRepo": "jobmagic.models.ml",
    "Metric": "jobmagic.models.ml",
    "trigger": "jobmagic.public",
    "sweep": "jobmagic.public",
    "sweeps": "jobmagic.public",
    "load_sweep": "jobmagic.public",
    "search": "jobmagic.public",
    "search_runs": "jobmagic.public",
    "SearchResult": "jobmagic.domain.search_result",
    "attach": "jobmagic.public",
    "runs": "jobmagic.public",
    "recover_ledger": "jobmagic.public",
    "TriggerForm": "jobmagic.public",
    "Ledger": "jobmagic.ledger",
    "SweepResult": "jobmagic.domain.sweeps",
    "RunHandle": "jobmagic.domain.handle",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
_moved.install()


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jobmagic``: register the magics and the ``JobMagic`` settings."""
    from jobmagic.ipython.extension import load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext jobmagic``: stop the tracker and a sandbox this session started."""
    from jobmagic.ipython.extension import unload

    unload(shell)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the Runs panel (``jupyter-builder develop .`` reads it)."""
    return [{"src": "labextension", "dest": "jobmagic"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter Server's entry: the REST handlers the Runs panel reads
    (:mod:`jobmagic.serverext`, which imports ``jupyter_server`` only when loaded)."""
    return [{"module": "jobmagic.serverext"}]


__all__ = [
    "APIError",
    "Application",
    "AsyncJobsClient",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "Event",
    "JobRun",
    "JobmagicError",
    "JobsClient",
    "Ledger",
    "LogLine",
    "MLRepo",
    "MLRun",
    "Metric",
    "NotFoundError",
    "ParamsError",
    "RateLimitedError",
    "RunHandle",
    "RunStatus",
    "SearchResult",
    "ServerError",
    "Subject",
    "SweepResult",
    "TransportError",
    "TriggerForm",
    "TriggerOutcomeUnknown",
    "TriggerResult",
    "ValidationError",
    "__version__",
    "attach",
    "compare",
    "load_ipython_extension",
    "load_sweep",
    "metric_history",
    "plot_metric",
    "plot_timeline",
    "recover_ledger",
    "runs",
    "runs_to_dataframe",
    "search",
    "search_runs",
    "sweep",
    "sweeps",
    "trigger",
    "unload_ipython_extension",
]
