"""What a view needs from a run: its latest state, what was sent, and a few actions.

Views never talk HTTP themselves; they are handed a :class:`RunSource`
(in the product, a :class:`jobmagic.runs.handle.RunHandle`) and call its
blocking methods from worker threads. That keeps them testable with a
plain in-memory object and keeps the kernel free while a request runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from jobmagic.models import Event, JobRun, LogLine

__all__ = ["RunSource", "UpdateCallback"]

#: ``callback(run, stale_since)``: called by the tracker from its own thread.
UpdateCallback = Callable[[JobRun, "datetime | None"], None]


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

    def logs(self, tail: int | None = None) -> list[LogLine]:
        """The run's log lines, oldest first; ``tail=N`` gives only the last N (blocking)."""
        ...

    def subscribe(self, callback: UpdateCallback) -> Callable[[], None]:
        """Call ``callback(run, stale_since)`` on every poll tick while the run is live.

        ``stale_since`` is None while polls succeed, else when they began failing.
        Returns a function that unsubscribes.
        """
        ...
