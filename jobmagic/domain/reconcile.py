"""Settling trigger attempts whose answer was lost, by what the server lists.

The API has no idempotency key, so a lost answer can only be resolved by looking: an
attempt started the run whose ``command`` is the job's template filled with the attempt's
params (or the attempt's command override), created while the attempt was in flight. A
run another attempt already owns is never a candidate.

- exactly one such run: the attempt is *acknowledged* with it;
- none, and the attempt's window has closed: *not-created*, safe to trigger again;
- several: *ambiguous*, with the candidates for a person to choose;
- none while the window is still open: *undecided*; look again later.

Nothing here sends a trigger. :func:`match_attempts` decides (pure); :func:`settle` lists
the runs it needs, one listing per application, and writes the verdicts to the ledger;
:meth:`jobmagic.domain.session.JobSession.reconcile` is the way in.

>>> from datetime import datetime, timedelta, timezone
>>> from jobmagic.ledger import AttemptState, LedgerEntry
>>> from jobmagic.models import Application, JobRun
>>> sent = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
>>> attempt = LedgerEntry(id=1, state=AttemptState.UNKNOWN, created_at=sent, updated_at=sent,
...                       params={"lr": "0.1"})
>>> app = Application(id="app-1", name="train", command="train.py --lr {{lr}}")
>>> runs = [JobRun(name="train-a", command="train.py --lr 0.1", created_at=sent),
...         JobRun(name="train-b", command="train.py --lr 0.2", created_at=sent)]
>>> [(v.state.value, v.run_name) for v in match_attempts([attempt], runs, app, now=sent)]
[('acknowledged', 'train-a')]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from jobmagic.errors import NotFoundError
from jobmagic.ledger import AttemptState, Ledger, LedgerEntry
from jobmagic.models import Application, JobRun

if TYPE_CHECKING:
    from jobmagic.api import JobsClient

__all__ = [
    "CLOCK_SKEW",
    "IN_FLIGHT_LIMIT",
    "UNSETTLED",
    "Verdict",
    "attempt_window",
    "expected_command",
    "match_attempts",
    "settle",
]

#: The attempt states reconciling looks at. ``ambiguous`` is looked at again: a candidate
#: may since have been claimed by another attempt.
UNSETTLED = (AttemptState.PENDING, AttemptState.UNKNOWN, AttemptState.AMBIGUOUS)
#: How far the server's clock may be from ours.
CLOCK_SKEW = timedelta(seconds=5)
#: How long after an attempt was written its request can still have created a run: the
#: client's request timeout and its connect retries, with room to spare.
IN_FLIGHT_LIMIT = timedelta(seconds=120)


@dataclass(frozen=True)
class Verdict:
    """What reconciling decided for one attempt; ``state`` is where it now stands."""

    attempt_id: int
    state: AttemptState
    reason: str
    run: JobRun | None = None
    candidates: tuple[str, ...] = ()

    @property
    def run_name(self) -> str | None:
        return None if self.run is None else self.run.name

    @property
    def decided(self) -> bool:
        """False while the attempt's window is still open and no run matched yet."""
        return self.state in (
            AttemptState.ACKNOWLEDGED,
            AttemptState.NOT_CREATED,
            AttemptState.AMBIGUOUS,
        )


def attempt_window(
    entry: LedgerEntry,
    *,
    skew: timedelta = CLOCK_SKEW,
    in_flight: timedelta = IN_FLIGHT_LIMIT,
) -> tuple[datetime, datetime]:
    """When a run this attempt started can have been created, by the server's clock.

    The attempt is written before its request is sent, so the run is no older than that.
    An ``unknown`` attempt's answer was lost when it was recorded: no later. A ``pending``
    one (its kernel died) had at most the request's time in flight.
    """
    start = entry.created_at - skew
    if entry.state is AttemptState.UNKNOWN:
        return start, min(entry.updated_at, entry.created_at + in_flight) + skew
    return start, entry.created_at + in_flight + skew


def expected_command(entry: LedgerEntry, app: Application | None) -> str | None:
    """The ``command`` the run of ``entry`` reports: its override, or the filled template."""
    if entry.command:
        return entry.command
    return None if app is None else app.run_command(entry.params)


def match_attempts(
    attempts: Iterable[LedgerEntry],
    runs: Sequence[JobRun],
    app: Application | None,
    *,
    now: datetime,
    taken: Collection[str] = (),
    skew: timedelta = CLOCK_SKEW,
    in_flight: timedelta = IN_FLIGHT_LIMIT,
) -> list[Verdict]:
    """A verdict for each attempt of one application, oldest attempt first.

    ``runs`` are the application's runs around the attempts' windows; ``taken`` the names
    of runs other attempts already own. A run given to one attempt is taken for the next.
    """
    claimed = set(taken)
    verdicts = []
    for entry in sorted(attempts, key=lambda e: (e.created_at, e.id)):
        command = expected_command(entry, app)
        start, end = attempt_window(entry, skew=skew, in_flight=in_flight)
        if command is None:
            verdicts.append(
                Verdict(
                    entry.id,
                    entry.state,
                    "The job's manifest has no command template to match runs against; "
                    "check its runs by hand.",
                )
            )
            continue
        matches = [
            run
            for run in runs
            if run.name
            and run.name not in claimed
            and run.command == command
            and run.created_at is not None
            and start <= run.created_at <= end
        ]
        verdicts.append(_verdict(entry, matches, window_closed=now > end))
        if len(matches) == 1:
            claimed.add(matches[0].name)
    return verdicts


def _verdict(entry: LedgerEntry, matches: list[JobRun], *, window_closed: bool) -> Verdict:
    if len(matches) == 1:
        run = matches[0]
        return Verdict(
            entry.id,
            AttemptState.ACKNOWLEDGED,
            f"The trigger's answer was lost; the server's run {run.name} has the command "
            "and the time this attempt's would have, so it is this attempt's run.",
            run=run,
        )
    if len(matches) > 1:
        names = tuple(sorted(run.name for run in matches))
        return Verdict(
            entry.id,
            AttemptState.AMBIGUOUS,
            f"{len(names)} runs on the server match this attempt ({', '.join(names)}); "
            "it started at most one of them. Check them before triggering again.",
            candidates=names,
        )
    if window_closed:
        return Verdict(
            entry.id,
            AttemptState.NOT_CREATED,
            "No run on the server has this attempt's command from the time it was sent: "
            "it started no run, so it is safe to trigger again.",
        )
    return Verdict(
        entry.id,
        entry.state,
        "No matching run yet, and the server may still be creating it; reconcile again "
        "in a few seconds.",
    )


def settle(
    client: JobsClient,
    ledger: Ledger,
    entries: Sequence[LedgerEntry],
    *,
    skew: timedelta = CLOCK_SKEW,
) -> list[Verdict]:
    """Match ``entries`` against the server's runs and write each decided verdict."""
    by_app: dict[str, list[LedgerEntry]] = {}
    verdicts: list[Verdict] = []
    for entry in entries:
        app_id = entry.application_id or _application_id_of(client, entry)
        if app_id is None:
            reason = (
                "The attempt names no application to look in (it was sent by deployment id); "
                "check the job's runs by hand."
            )
            verdicts.append(Verdict(entry.id, entry.state, reason))
        else:
            by_app.setdefault(app_id, []).append(entry)
    now = datetime.now(timezone.utc)
    for app_id, group in by_app.items():
        try:
            app = client.get_app(app_id)
        except NotFoundError:
            reason = f"The server no longer knows application {app_id}."
            verdicts.extend(Verdict(e.id, e.state, reason) for e in group)
            continue
        since = min(attempt_window(e, skew=skew)[0] for e in group)
        runs = client.list_runs(app_id, created_after=since)
        taken = ledger.known_run_names(app_id, (run.name for run in runs))
        for verdict in match_attempts(group, runs, app, now=now, taken=taken, skew=skew):
            _record(ledger, verdict, app_id)
            verdicts.append(verdict)
    return verdicts


def _application_id_of(client: JobsClient, entry: LedgerEntry) -> str | None:
    if not entry.application_fqn:
        return None
    try:
        return client.find_app(entry.application_fqn).id
    except NotFoundError:
        return None


def _record(ledger: Ledger, verdict: Verdict, application_id: str) -> None:
    if verdict.state is AttemptState.ACKNOWLEDGED and verdict.run is not None:
        run = replace(verdict.run, application_id=verdict.run.application_id or application_id)
        ledger.record_reconciled(verdict.attempt_id, run, verdict.reason)
    elif verdict.state is AttemptState.NOT_CREATED:
        ledger.record_not_created(verdict.attempt_id, verdict.reason)
    elif verdict.state is AttemptState.AMBIGUOUS:
        ledger.record_ambiguous(verdict.attempt_id, verdict.candidates, verdict.reason)
