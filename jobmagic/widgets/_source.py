"""What a view needs from a run: its latest state, what was sent, and a few actions.

Views never talk HTTP themselves; they are handed a :class:`RunSource`
(in the product, a :class:`jobmagic.domain.handle.RunHandle`) and call its
blocking methods from worker threads. That keeps them testable with a
plain in-memory object and keeps the kernel free while a request runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from jobmagic.models import Event, JobRun, LogLine, ParamSpec

__all__ = ["LogLines", "RerunSpec", "RunSource", "UpdateCallback"]

#: ``callback(run, stale_since)``: called by the tracker from its own thread.
UpdateCallback = Callable[[JobRun, "datetime | None"], None]


class LogLines(Protocol):
    """A page of a run's log lines, oldest first (:class:`jobmagic.api.logs.LogPage`)."""

    @property
    def next(self) -> Any:
        """Where the lines after this page start: give it back as ``logs(since=...)``."""
        ...

    @property
    def full(self) -> bool:
        """The page holds as many lines as were asked: more may follow."""
        ...

    def __iter__(self) -> Iterator[LogLine]: ...

    def __len__(self) -> int: ...


class RerunSpec(Protocol):
    """What a "Run again" form shows (:class:`jobmagic.domain.rerun.RerunFields`)."""

    @property
    def specs(self) -> Sequence[ParamSpec]:
        """The fields: each param with the run's value as its default."""
        ...

    @property
    def command(self) -> str | None:
        """The command the run ran instead of the job's template, if it did."""
        ...

    @property
    def values(self) -> dict[str, str]:
        """Each field's value as shown."""
        ...


class RunSource(Protocol):
    """The data and actions behind a run card, a board row and a form's history.

    >>> def show(source: RunSource) -> str:
    ...     return f"{source.run.name} {source.run.status}"
    """

    @property
    def run(self) -> JobRun:
        """The latest known JobRun."""
        ...

    @property
    def params(self) -> Mapping[str, str]:
        """The params that were sent when the run was triggered."""
        ...

    @property
    def application_fqn(self) -> str | None:
        """``cluster:workspace:app``, when known."""
        ...

    @property
    def url(self) -> str | None:
        """The run's page in the TrueFoundry UI, when known."""
        ...

    @property
    def rerun_of(self) -> str | None:
        """The name of the run this one repeats, when it is a rerun."""
        ...

    @property
    def stale_since(self) -> datetime | None:
        """When polls for the run began failing; None while they succeed."""
        ...

    @property
    def metric_series(self) -> Mapping[str, Sequence[float]]:
        """Each metric's values so far, oldest first (never makes a request)."""
        ...

    def want_metrics(self) -> None:
        """Ask for the metrics to be kept current while the run is shown (no request now)."""
        ...

    @property
    def can_rerun(self) -> bool:
        """Whether :meth:`rerun_fields` and :meth:`rerun` work (a "Run again" button)."""
        ...

    def rerun_fields(self) -> RerunSpec:
        """What the run was triggered with, as a form's fields (blocking: reads the ledger)."""
        ...

    def rerun(
        self, params: Mapping[str, str] | None = None, /, *, command: str | None = None
    ) -> Any:
        """Trigger the run again with ``params`` changed (or ``command``); its new handle."""
        ...

    @property
    def events(self) -> Sequence[Event]:
        """The pod events of a failed or terminated run (empty before it ends, or if none).

        Reading it never makes a request: the source fetches them once, when it sees the
        run end, before it tells its subscribers about that update.
        """
        ...

    def refresh(self) -> JobRun:
        """Fetch the run now (blocking HTTP); views call it from a worker thread."""
        ...

    def terminate(self) -> str:
        """Ask the server to stop the run (blocking); returns the server's message.

        Raises a :class:`jobmagic.JobmagicError` when the server refuses or cannot be reached.
        """
        ...

    def logs(
        self, tail: int | None = None, *, since: Any = None, limit: int | None = None
    ) -> LogLines:
        """A page of the run's log lines, oldest first (blocking): ``tail=N`` the last N;
        else at most ``limit`` from ``since``, a page's ``next`` (the lines after it)."""
        ...

    def subscribe(self, callback: UpdateCallback) -> Callable[[], None]:
        """Call ``callback(run, stale_since)`` on every poll tick while the run is live.

        ``stale_since`` is None while polls succeed, else when they began failing.
        Returns a function that unsubscribes.
        """
        ...
