"""A run handle's metrics: the latest values and a trend per metric, kept current by the
tracker (one search per application per tick) while the run is live, completed with each
metric's whole history once it ended. Reading them never blocks a view: views read the
state; the first ``handle.metrics`` fetches.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from jobmagic.api.metrics import (
    RunMetrics,
    fetch_metrics,
    logged_values,
    newest_values,
    search_app,
)
from jobmagic.errors import AuthError, JobmagicError, TransportError
from jobmagic.models import JobRun
from jobmagic.models.metrics import RunKey, compile_patterns
from jobmagic.models.ml import MLRun

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.config import Settings

__all__ = [
    "MetricHolder",
    "MetricState",
    "fetch_ended",
    "handle_metrics",
    "metric_series",
    "refresh_handles",
    "refresh_metrics",
    "seed_handles",
    "want_metrics",
]


# --- a run handle's metrics (RunHandle.metrics, kept current by the tracker) -------------


def _same(old: float | None, new: float) -> bool:
    return old == new or (old is not None and math.isnan(old) and math.isnan(new))


class MetricState:
    """What a run handle knows of its run's metrics: the latest values and a trend per
    metric (the values seen while it ran, replaced by the full history once it ended)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latest: dict[str, float] = {}
        self.series: dict[str, list[float]] = {}
        self.wanted = False  # someone read the metrics: the tracker keeps them current
        self.fetched = False
        self.fetched_at = -math.inf  # time.monotonic() of the last fetch
        self.complete = False  # histories read after the run ended: nothing more to fetch
        # The latest values were read after the run ended (a board's row): they are final.
        self.final = False
        #: Called with the latest values when a fetch changed them (the session keeps them
        #: in the ledger's metric cache); from the fetching thread.
        self.on_change: Callable[[dict[str, float]], None] | None = None

    def take(self, latest: Mapping[str, float], *, notify: bool = True) -> None:
        """Take fetched latest values (``notify=False``: values read from the cache)."""
        with self._lock:
            changed = any(not _same(self.latest.get(k), v) for k, v in latest.items())
            for name, value in latest.items():
                trend = self.series.setdefault(name, [])
                if not trend or trend[-1] != value or self.latest.get(name) != value:
                    trend.append(value)
            self.latest.update(latest)
            self.fetched = True
            self.fetched_at = time.monotonic()
            values = dict(self.latest)
        if changed and notify and self.on_change is not None:
            self.on_change(values)

    def take_histories(self, histories: Mapping[str, Sequence[float]]) -> None:
        with self._lock:
            for name, values in histories.items():
                if values:
                    self.series[name] = list(values)
                    self.latest.setdefault(name, values[-1])
            self.complete = self.final = True

    def snapshot(self) -> tuple[dict[str, float], dict[str, tuple[float, ...]]]:
        with self._lock:
            return dict(self.latest), {k: tuple(v) for k, v in self.series.items()}


class MetricHolder(Protocol):
    """What these functions need of a run handle (:class:`jobmagic.domain.handle.RunHandle`)."""

    @property
    def name(self) -> str: ...

    @property
    def application_id(self) -> str | None: ...

    @property
    def metric_state(self) -> MetricState: ...

    @property
    def run(self) -> JobRun: ...

    @property
    def client(self) -> JobsClient: ...

    @property
    def settings(self) -> Settings: ...


def _handle_patterns(handle: MetricHolder) -> dict[str, re.Pattern[str]]:
    try:
        return compile_patterns(dict(handle.settings.metric_patterns or ()))
    except ValueError:
        return {}


def _fill_histories(client: JobsClient, handle: MetricHolder, ml_runs: Sequence[MLRun]) -> None:
    """Once the run ended: each metric's whole history (one call per ML run and metric),
    and the pattern metrics read from its logs (one call)."""
    histories: dict[str, list[float]] = {}
    for ml_run in ml_runs:
        for key in ml_run.metrics:
            points = client.metric_history(ml_run.run_id, key)
            histories[key] = [p.value for p in points if p.value is not None]
    patterns = _handle_patterns(handle)
    if patterns and handle.application_id:
        for key, values in logged_values(
            client, (handle.application_id, handle.name), patterns
        ).items():
            histories.setdefault(key, values)  # ML-run metrics win
    handle.metric_state.take_histories(histories)


def refresh_handles(
    client: JobsClient, app_id: str, handles: Sequence[MetricHolder], runs: Sequence[JobRun] = ()
) -> None:
    """Bring the metrics of one application's wanted handles up to date: one search.

    The tracker calls it once per tick per application, before it tells the views of the
    runs it just listed (``runs``); a run seen ended gets its histories too. Failures are
    swallowed: metrics are extra, and the next tick tries again.
    """
    wanted = [h for h in handles if h.metric_state.wanted and not h.metric_state.complete]
    if not wanted:
        return
    ended = {run.name for run in runs if run.is_terminal}
    try:
        found = search_app(client, app_id, {h.name for h in wanted})
        for handle in wanted:
            ml_runs = found.get(handle.name, [])
            handle.metric_state.take(newest_values(ml_runs))
            if handle.name in ended or handle.run.is_terminal:
                _fill_histories(client, handle, ml_runs)
    except JobmagicError:
        pass


def handle_metrics(handle: MetricHolder, *, refresh: bool = False) -> dict[str, float]:
    """``handle.metrics``: fetched on first use (and on ``refresh``), kept current after by
    the tracker; a live run that no tracker follows is fetched again on a read once the
    last fetch is a poll interval old."""
    state = handle.metric_state
    state.wanted = True
    interval = handle.settings.poll_interval
    ended = handle.run.is_terminal
    stale = not ended and time.monotonic() - state.fetched_at > interval
    # An ended run whose latest values alone are known (a board's row) gets its histories.
    partial = ended and not state.complete
    if (refresh or not state.fetched or stale or partial) and handle.application_id:
        if refresh:
            state.complete = False
        refresh_handles(handle.client, handle.application_id, [handle], [handle.run])
    return state.snapshot()[0]


def refresh_metrics(client: JobsClient, handle: MetricHolder, run: JobRun) -> None:
    """A refresh of ``handle`` that fetched ``run``: its metrics now too (one search, and
    the histories once ``run`` ended), whoever started the run and whatever views it."""
    if handle.application_id:
        state = handle.metric_state
        state.wanted = True
        state.complete = False
        refresh_handles(client, handle.application_id, [handle], [run])


def fetch_ended(
    client: JobsClient, handles: Iterable[MetricHolder], patterns: Mapping[str, str]
) -> bool:
    """The latest metrics of the ended runs among ``handles`` whose metrics were not read
    since they ended (a board's rows from the ledger, from any kernel): one search per
    application, and one log read per run when ``patterns`` are set and the ML runs lack
    some of them.

    Live runs are left to the tracker. An application that cannot be asked about leaves
    its runs as they were (metrics are extra; the next view asks again). False when the
    server could not be reached (or refused the token): the rest are then not asked for.
    """
    by_app: dict[str, list[MetricHolder]] = {}
    for handle in handles:
        if handle.application_id and handle.run.is_terminal and not handle.metric_state.final:
            by_app.setdefault(handle.application_id, []).append(handle)
    for group in by_app.values():
        try:
            found = fetch_metrics(group, client=client, metric_patterns=patterns or None)
        except (TransportError, AuthError):
            return False  # every other application would wait out the same retries
        except (JobmagicError, ValueError):
            continue  # ValueError: a pattern that does not compile (the setting refuses it)
        for handle, result in zip(group, found, strict=True):
            handle.metric_state.take(result.latest)
            handle.metric_state.final = True
    return True


def metric_series(handle: MetricHolder) -> dict[str, tuple[float, ...]]:
    """Each metric's values so far (for the card's trend); never makes a request."""
    return handle.metric_state.snapshot()[1]


def seed_handles(handles: Iterable[MetricHolder], found: Mapping[RunKey, RunMetrics]) -> None:
    """Give handles metrics already fetched; the tracker keeps the live ones current."""
    for handle in handles:
        result = found.get((handle.application_id or "", handle.name))
        if result is not None:
            state = handle.metric_state
            state.take(result.latest)
            state.wanted = True


def want_metrics(handle: MetricHolder) -> None:
    """Ask the tracker to keep a live handle's metrics current, without fetching now: a
    board of many runs then costs one search per application per tick, not one per run."""
    handle.metric_state.wanted = True
