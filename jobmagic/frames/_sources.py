"""Where the metrics of runs come from: the client to ask and the log patterns to read.

Run handles bring their own (their session's client and ``%config
JobMagic.metric_patterns``); for anything else (JobRuns, API dicts, ledger entries) they are
given as ``client=`` and ``metric_patterns=``. This layer knows no session of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from jobmagic.api.metrics import RunMetrics, fetch_metrics, run_key
from jobmagic.errors import ConfigError

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.config import Settings

__all__ = [
    "ClientSource",
    "PatternSource",
    "SessionBound",
    "client_for",
    "fetch_for",
    "patterns_for",
]

#: The client to ask, if given (else the run handles' session's).
ClientSource: TypeAlias = "JobsClient | None"
#: The metric patterns, if given (else the run handles' ``%config JobMagic.metric_patterns``).
PatternSource: TypeAlias = "Mapping[str, Any] | None"


@runtime_checkable
class SessionBound(Protocol):
    """A run that knows its session (a :class:`jobmagic.RunHandle`)."""

    @property
    def client(self) -> JobsClient: ...

    @property
    def settings(self) -> Settings: ...


def client_for(items: Sequence[Any], client: ClientSource) -> JobsClient:
    """``client`` if given, else the first run handle's session's."""
    if client is not None:
        return client
    for item in items:
        if isinstance(item, SessionBound):
            return item.client
    raise ConfigError(
        "These runs are not run handles, so they bring no session to ask for their metrics: "
        "give one, e.g. client=jobmagic.JobsClient() (from TFY_HOST / TFY_API_KEY)."
    )


def patterns_for(items: Sequence[Any], metric_patterns: PatternSource) -> Mapping[str, Any] | None:
    """``metric_patterns`` if given, else the first run handle's setting."""
    if metric_patterns is not None:
        return metric_patterns
    for item in items:
        if isinstance(item, SessionBound):
            return dict(item.settings.metric_patterns or {}) or None
    return None


def fetch_for(
    items: Iterable[Any], *, client: ClientSource, metric_patterns: PatternSource
) -> list[RunMetrics]:
    """:func:`jobmagic.api.metrics.fetch_metrics` of ``items`` with the client and patterns
    their handles (or the arguments) give."""
    runs = list(items)
    if not any(run_key(item) for item in runs):
        return [RunMetrics({}) for _ in runs]
    return fetch_metrics(
        runs,
        client=client_for(runs, client),
        metric_patterns=patterns_for(runs, metric_patterns),
    )
