"""When a waited run should end, and when to ask about it: how ``--wait`` learns of an end
within a fraction of a second while asking at most once a second.

The API has no way to wait for a run's end (no long poll, no stream that ends with the run):
a client learns of it from a GET. Asked once a second at random, the end is seen half a
second late on average. But the tracker's list call already returns the application's
recent runs, with their ``createdAt`` and ``endTime``: a run of the same command (same job
version, same params) as runs that finished before tends to take as long as they did. So the
tracker keeps its once-a-second rhythm and shifts it, once, so that a poll lands just after
that expected end (:func:`next_poll_time`): no more requests, the end seen at once when the
estimate holds, within a second as before when it does not.

>>> from datetime import datetime, timedelta, timezone
>>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
>>> done = [JobRun(name=f"a-{i}", status=RunStatus.FINISHED, command="sleep 2", created_at=t,
...                end_time=t + timedelta(seconds=2.0 + i / 100)) for i in range(3)]
>>> estimates = EndEstimates()
>>> estimates.learn(done)
>>> live = JobRun(name="b", status=RunStatus.RUNNING, command="sleep 2", created_at=t)
>>> estimates.expected_end(live) == t + timedelta(seconds=2.01)
True
>>> next_poll_time(10.0, 1.0, [12.35])   # the rhythm shifted once: polls at 11.35, 12.35
11.35
"""

from __future__ import annotations

import statistics
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

from jobmagic.models import JobRun, RunStatus

__all__ = ["EndEstimates", "next_poll_time"]

#: The durations kept per command (the newest), and the commands kept per application.
KEEP_DURATIONS = 5
KEEP_COMMANDS = 64
#: How long after the expected end the poll is sent: the server must have recorded the end
#: (a poll a hair early sees the run still going and the next one comes a second later).
MIN_MARGIN_SECONDS = 0.05
#: The most the margin grows with the spread of the durations seen.
MAX_MARGIN_SECONDS = 0.5


def _key(run: JobRun) -> tuple[str, str] | None:
    if not run.command:
        return None
    return (run.deployment_version or run.deployment_id or "", run.command)


class EndEstimates:
    """The durations of an application's recent FINISHED runs, by job version and command.

    Not thread-safe: the tracker's thread alone learns and asks.
    """

    def __init__(self) -> None:
        # Per command: run name -> duration (a page lists the same runs tick after tick).
        self._durations: OrderedDict[tuple[str, str], OrderedDict[str, float]] = OrderedDict()

    def learn(self, runs: Iterable[JobRun]) -> None:
        """Remember the durations of the FINISHED runs among ``runs`` (failed and terminated
        runs ended early: they say nothing of how long the command takes)."""
        for run in runs:
            key = _key(run)
            if run.status != RunStatus.FINISHED or key is None or run.end_time is None:
                continue
            seconds = run.duration_seconds
            if seconds is None:
                continue
            durations = self._durations.setdefault(key, OrderedDict())
            self._durations.move_to_end(key)
            if run.name in durations:
                continue
            durations[run.name] = seconds
            while len(durations) > KEEP_DURATIONS:
                durations.popitem(last=False)
            while len(self._durations) > KEEP_COMMANDS:
                self._durations.popitem(last=False)

    def expected_end(self, run: JobRun) -> datetime | None:
        """When ``run`` should end (server time): its creation plus the median duration of
        the runs of its command seen so far; None when none was seen."""
        key = _key(run)
        durations = self._durations.get(key) if key is not None else None
        if not durations or run.created_at is None:
            return None
        return run.created_at + timedelta(seconds=statistics.median(durations.values()))

    def margin(self, run: JobRun) -> float:
        """Seconds after :meth:`expected_end` to ask: more when the durations seen spread.

        >>> EndEstimates().margin(JobRun(name="x"))
        0.05
        """
        key = _key(run)
        durations = list((self._durations.get(key) or {}).values()) if key else []
        spread = max(durations) - min(durations) if durations else 0.0
        return min(MAX_MARGIN_SECONDS, MIN_MARGIN_SECONDS + spread)


def next_poll_time(last: float, spacing: float, targets: Iterable[float]) -> float:
    """When to poll next (monotonic seconds): ``spacing`` after ``last``, or up to one
    spacing later so that the rhythm lands on the soonest of ``targets`` still ahead; never
    sooner than ``spacing`` after ``last``.

    >>> next_poll_time(0.0, 1.0, [])
    1.0
    >>> next_poll_time(0.0, 1.0, [0.5])   # too close to reach: the rhythm goes on
    1.0
    >>> next_poll_time(0.0, 1.0, [1.3, 5.9])
    1.3
    """
    regular = last + spacing
    ahead = [target for target in targets if target >= regular]
    if not ahead:
        return regular
    return regular + (min(ahead) - regular) % spacing
