"""Sweeps read back from the ledger: the list of them, and one as a live :class:`SweepResult`.

:func:`load_sweep` works in any process (a new kernel, a plain ``python``): the sweep's runs
become live handles as ``%job_runs --all`` makes them (their live statuses asked of the
server first, one list call per job), ranked by the cached metrics at once; its attempts
that made no run are its failures. :func:`sweeps_frame` is :func:`jobmagic.sweeps`: one row
per sweep, read from the ledger alone (counts and best values come from its indexes and its
metric cache, never from the server).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from jobmagic.domain import engine
from jobmagic.domain.listing import refresh_entries
from jobmagic.domain.metrics import fetch_ended
from jobmagic.domain.sweep_metrics import seed_from_cache
from jobmagic.domain.sweep_store import record_objective, sweep_job
from jobmagic.domain.sweeps import SweepFailure, SweepResult
from jobmagic.domain.target import Target
from jobmagic.errors import JobmagicError
from jobmagic.ledger import SweepRecord, SweepSummary

if TYPE_CHECKING:
    import pandas as pd

    from jobmagic.domain.session import JobSession
    from jobmagic.ledger import LedgerEntry

__all__ = ["SWEEP_COLUMNS", "find_sweep", "load_sweep", "sweep_note", "sweeps_frame"]

#: The columns of :func:`sweeps_frame`, in order.
SWEEP_COLUMNS = (
    "name",
    "job",
    "kind",
    "objective",
    "best",
    "runs",
    "finished",
    "live",
    "failed",
    "terminated",
    "not_started",
    "created",
    "notebook",
)
_ENDED = {"FINISHED": "finished", "FAILED": "failed", "TERMINATED": "terminated"}
#: Attempt states without a run, as the ledger counts them (in capitals).
_NO_RUN = frozenset({"PENDING", "REJECTED", "NOT-CREATED", "AMBIGUOUS"})


def load_sweep(session: JobSession, name: str, *, refresh: bool = True) -> SweepResult:
    """The sweep ``name`` as a :class:`SweepResult` with live handles (``refresh``: live
    statuses asked of the server first, and the metrics of ended runs the ledger's cache
    does not hold); a :class:`~jobmagic.JobmagicError` naming the sweeps there are when the
    ledger has none of that name."""
    ledger = session.ledger
    record = find_sweep(session, name)
    entries = ledger.sweep_entries(name)
    with_run = [entry for entry in entries if entry.run is not None]
    if refresh and with_run:
        with_run = refresh_entries(session, with_run, strict=False)
    # The cache first: ranking and the board need no request for the runs it knows.
    handles = session.handles_for_entries(with_run, ask_server=False)
    session.flush_metric_cache()
    seed_from_cache(ledger, handles)
    if refresh:
        patterns = dict(session.settings.metric_patterns)
        fetch_ended(session.client, [h for h in handles if not h.metric_state.fetched], patterns)
    failures = [_failure(entry) for entry in entries if entry.run is None]
    first = with_run[0] if with_run else (entries[0] if entries else None)
    result = SweepResult(
        handles=handles,
        failures=failures,
        session=session,
        again=partial(
            _again,
            session,
            record,
            first.command if first else None,
            first.alias if first else None,
        ),
        concurrency=session.settings.concurrency,
        name=record.name,
        objective=record_objective(record),
        loaded=True,
    )
    if record.kind != "search":
        return result
    # Deferred: a search's machinery loads PyYAML's params parser, which a grid does not need.
    from jobmagic.domain.search_call import with_study

    return with_study(result)  # with its study: trials, pruned runs and pictures


def find_sweep(session: JobSession, name: str) -> SweepRecord:
    """The ledger's record of the sweep ``name``; a :class:`~jobmagic.JobmagicError` naming
    the newest sweeps there are when it has none of that name."""
    record = session.ledger.sweep(name)
    if record is None:
        raise _no_such_sweep(session, name)
    return record


def _no_such_sweep(session: JobSession, name: str) -> JobmagicError:
    known = [summary.record.name for summary in session.ledger.sweep_summaries(limit=5)]
    listing = f" The newest there: {', '.join(known)}." if known else " It has none yet."
    return JobmagicError(
        f"No sweep named {name!r} in the ledger {session.ledger.path}.{listing} "
        "jobmagic.sweeps() lists them all."
    )


def sweep_note(record: SweepRecord) -> str:
    """The line over a sweep's board: its name, job and objective.

    >>> sweep_note(SweepRecord("lr-scan", "grid", target="train", objective="loss:min"))
    'Sweep lr-scan · train · objective loss:min'
    """
    objective = f"objective {record.objective}" if record.objective else "no objective"
    return f"Sweep {record.name} · {sweep_job(record)} · {objective}"


def _failure(entry: LedgerEntry) -> SweepFailure:
    """An attempt of the sweep that made no run, as the sweep's failure (never safe to send
    again from here: only the ledger's words for why are known)."""
    why = entry.error or "no run"
    if entry.state.value in ("pending", "unknown", "ambiguous"):
        why += " (%job_runs --reconcile settles it against the server)"
    return SweepFailure(dict(entry.params), JobmagicError(f"{entry.state.value}: {why}"), entry.id)


def _again(
    session: JobSession,
    record: SweepRecord,
    command: str | None,
    alias: str | None,
    param_sets: Sequence[Mapping[str, str]],
    rerun_of: Sequence[str | None],
    concurrency: int,
) -> SweepResult:
    """A loaded sweep's :meth:`SweepResult.rerun_failed`: its job, looked up now."""
    if record.application_fqn or record.target:
        target = Target(app=record.application_fqn or record.target)
    else:
        target = Target(application_id=record.application_id)
    return engine.run_sweep(
        session,
        session.resolve(target),
        param_sets,
        command=command,
        alias=alias,
        concurrency=concurrency,
        rerun_of=rerun_of,
        sweep=record,
    )


def sweeps_frame(summaries: Sequence[SweepSummary]) -> pd.DataFrame:
    """One row per sweep (newest first): its name, job, kind, objective, best cached value
    of the objective, attempts in all and per state (``live``: not ended yet;
    ``not_started``: no run was made or is known), creation time (UTC) and notebook."""
    # Deferred: pandas loads when a DataFrame is asked for.
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for summary in summaries:
        record = summary.record
        counts = dict.fromkeys(("finished", "live", "failed", "terminated", "not_started"), 0)
        for status, count in summary.counts.items():
            key = _ENDED.get(status) or ("not_started" if status in _NO_RUN else "live")
            counts[key] += count
        rows.append(
            {
                "name": record.name,
                "job": sweep_job(record),
                "kind": record.kind,
                "objective": record.objective,
                "best": summary.best,
                "runs": summary.runs,
                **counts,
                "created": record.created_at,
                "notebook": record.notebook,
            }
        )
    frame = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    for column in ("name", "job", "kind", "objective", "notebook"):
        frame[column] = frame[column].astype("string")
    for column in ("runs", "finished", "live", "failed", "terminated", "not_started"):
        frame[column] = frame[column].astype("int64")
    frame["best"] = frame["best"].astype("float64")
    frame["created"] = pd.to_datetime(frame["created"], utc=True).astype("datetime64[ns, UTC]")
    return frame
