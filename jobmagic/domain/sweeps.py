"""Sweeps: many triggers of one job, and what they came to.

``%%trigger_job --grid``, :func:`jobmagic.sweep` and :meth:`SweepResult.rerun_failed` (through
:func:`jobmagic.domain.engine.run_sweep`) all trigger through the one engine
(:mod:`jobmagic.domain.engine`: one ledger row per run, each committed before it is sent and
settled as soon as its answer arrives, so a kernel killed mid-sweep loses no run the server
acknowledged).
:class:`SweepResult` holds the runs it started and the ones that failed, and acts on them
all at once. A sweep has a name and, optionally, an objective: both are kept in the ledger
(:mod:`jobmagic.domain.sweep_store`), so :func:`jobmagic.load_sweep` gives it back in
another process, and :meth:`SweepResult.best` ranks its runs by the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from jobmagic.domain.handle import RunHandle
from jobmagic.domain.progress import SweepProgress
from jobmagic.domain.refresh import refresh_runs
from jobmagic.domain.sweep_metrics import latest_values
from jobmagic.domain.waiting import wait_for
from jobmagic.errors import (
    AuthError,
    JobmagicError,
    ObjectiveError,
    TriggerOutcomeUnknown,
    UnreachableError,
)
from jobmagic.models import JobRun, RunStatus
from jobmagic.models.metrics import MetricGoals
from jobmagic.models.objectives import Objective, parse_objective
from jobmagic.models.run_list import RunList

if TYPE_CHECKING:
    import pandas as pd

    from jobmagic.api import JobsClient
    from jobmagic.config import Settings
    from jobmagic.domain.reconcile import Verdict
    from jobmagic.ledger import Ledger

__all__ = [
    "RERUN_STATUSES",
    "STOPS_A_SWEEP",
    "Again",
    "SweepFailure",
    "SweepResult",
    "SweepSession",
]

#: The runs ``SweepResult.rerun_failed`` triggers again.
RERUN_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TERMINATED})


class SweepSession(Protocol):
    """What a sweep result needs of its session: the client, the settings (the user's
    metric goals), and the ledger's record."""

    @property
    def client(self) -> JobsClient: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def ledger(self) -> Ledger: ...

    def record_runs(self, runs: Iterable[JobRun]) -> None: ...


#: ``again(param_sets, rerun_of, concurrency)``: the same sweep's target, command and alias
#: with other params (what :meth:`SweepResult.rerun_failed` sends); the engine gives it.
Again = Callable[[Sequence[Mapping[str, str]], Sequence["str | None"], int], "SweepResult"]


@dataclass(frozen=True)
class SweepFailure:
    """One run of a sweep that did not start (or may not have): its params and why.

    ``verdict`` is what looking for it on the server found, when its outcome was unknown
    (:mod:`jobmagic.domain.reconcile`): not created (safe to retry), ambiguous, or undecided.
    ``sent`` is False for a trigger never sent because the sweep stopped (the server refused
    the token, or could not be reached): ``error`` is why it stopped.
    """

    params: Mapping[str, str]
    error: JobmagicError
    attempt_id: int | None = None
    verdict: Verdict | None = None
    sent: bool = True

    @property
    def outcome_unknown(self) -> bool:
        return isinstance(self.error, TriggerOutcomeUnknown)

    @property
    def safe_to_send_again(self) -> bool:
        """Whether no run can have started for it: never sent, refused for its token, or
        its server unreachable (:meth:`SweepResult.rerun_failed` sends these again)."""
        return not self.sent or isinstance(self.error, (AuthError, UnreachableError))

    def describe(self) -> str:
        if not self.sent:
            return f"not sent: the sweep stopped ({self.error})"
        if self.verdict is None:
            return str(self.error)
        return f"{self.error} Looked for it on the server: {self.verdict.reason}"


#: The errors after which a sweep sends nothing more: every later trigger would fail alike.
STOPS_A_SWEEP = (AuthError, UnreachableError)


@dataclass
class SweepResult:
    """The runs a sweep started, the ones that failed, and how long triggering took.

    Displayed, it is the live runs board plus a summary of failures, with buttons to
    refresh, terminate or rerun the failed ones. The whole sweep at once::

        result.wait()            # every run ended (progress shown as for --wait)
        result.terminate()       # every live run
        again = result.rerun_failed()   # FAILED and TERMINATED ones, as a new sweep
        result.best()            # the finished run with the best objective value

    ``name`` is the sweep's name in the ledger (given, or made up: ``train-brisk-otter``);
    ``objective`` the metric and goal its runs are ranked by, if it has one.
    """

    handles: list[RunHandle] = field(default_factory=list)
    failures: list[SweepFailure] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    session: SweepSession | None = field(default=None, repr=False, compare=False)
    # How the sweep was started, so rerun_failed can start the same again.
    again: Again | None = field(default=None, repr=False, compare=False)
    concurrency: int = field(default=8, repr=False, compare=False)
    name: str | None = None
    objective: Objective | None = None
    #: Read back from the ledger (:func:`jobmagic.load_sweep`), not triggered just now.
    loaded: bool = field(default=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.handles)

    def __iter__(self) -> Any:
        return iter(self.handles)

    def __getitem__(self, index: int) -> RunHandle:
        return self.handles[index]

    def run_labels(self) -> Mapping[str, str]:
        """A word the board shows beside a run's status, by run name: none for a sweep (a
        search marks its pruned runs)."""
        return {}

    def summary(self) -> str:
        """One line, plus one line per failure: which params, and why (a sweep that stopped
        says in one line how many triggers it did not send)."""
        total = len(self.handles) + len(self.failures)
        unsent = [failure for failure in self.failures if not failure.sent]
        failed = [failure for failure in self.failures if failure.sent]
        head = f"Triggered {len(self.handles)} of {total} runs in {self.elapsed:.1f} s"
        if self.loaded:
            head = f"Sweep {self.name}: {len(self.handles)} runs of {total} attempts"
        elif self.name:
            head += f" into sweep {self.name}"
        if self.objective:
            head += f" (objective {self.objective})"
        if self.interrupted:
            head += " (interrupted: the rest were not sent)"
        lines = [head + ("." if not failed else f"; {len(failed)} failed:")]
        for failure in failed:
            params = " ".join(f"{k}={v}" for k, v in failure.params.items())
            lines.append(f"  ✗ {params}: {failure.describe()}")
        if unsent:
            why = type(unsent[0].error).__name__
            lines.append(
                f"  {len(unsent)} not sent: the sweep stopped after {why} (every later trigger "
                f"would fail alike: {unsent[0].error}). Fix it, then .rerun_failed() sends them."
            )
        return "\n".join(lines)

    # -- the whole sweep at once ---------------------------------------------------------

    @property
    def live(self) -> list[RunHandle]:
        """The runs that have not ended (as last seen)."""
        return [handle for handle in self.handles if not handle.run.is_terminal]

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool = True,
        on_update: Callable[[list[JobRun]], None] | None = None,
    ) -> list[JobRun]:
        """Block until every run has ended; returns their final JobRuns, in sweep order.

        With ``progress``, the line ``--wait`` prints for a sweep counts the runs per state
        (rewritten in place where the front end allows). Raises :class:`TimeoutError` if
        ``timeout`` seconds pass first (the runs keep going). Ctrl-C stops the wait, not the
        runs.
        """
        view = SweepProgress() if progress else None
        runs = wait_for(self.handles, timeout, view=view, on_update=on_update)
        if self.session is not None:
            # The tracker tells the handles before the ledger: a sweeps() right after a
            # wait counts these runs as ended too.
            self.session.record_runs(runs)
        return RunList(runs)

    def terminate(self) -> dict[str, str]:
        """Ask the server to stop every live run; returns each one's answer by run name.

        One run that cannot be stopped does not stop the others: its entry is the error.
        """
        answers: dict[str, str] = {}
        for handle in self.live:
            try:
                answers[handle.name] = handle.terminate()
            except JobmagicError as exc:
                answers[handle.name] = f"not terminated: {exc}"
        return answers

    def refresh(self) -> list[JobRun]:
        """Fetch every run's state now (:func:`jobmagic.domain.refresh.refresh_runs`: one list
        call per application, the fewest more for runs it misses); updates every view."""
        if self.session is None:
            return RunList(handle.refresh() for handle in self.handles)
        known = [handle.run for handle in self.handles if handle.application_id]
        fresh = refresh_runs(self.session.client, known)
        for handle in self.handles:
            if not handle.application_id:
                handle.refresh()  # its application is unknown: asked for by name
                continue
            run = fresh.runs.get((handle.application_id, handle.name))
            if run is not None:
                handle.take(run)
        if fresh.failed:
            raise next(iter(fresh.failed.values()))
        self.session.record_runs(fresh.changed(known))
        return RunList(handle.run for handle in self.handles)

    def rerun_failed(self, *, concurrency: int | None = None) -> SweepResult:
        """Trigger again, as a new sweep, the runs that FAILED or were TERMINATED (each new
        attempt's ``rerun_of`` names the run it repeats) and the triggers that made no run
        and are safe to send again (never sent, refused for the token, server unreachable).

        Statuses are as last seen: :meth:`refresh` or :meth:`wait` first for fresh ones.
        """
        if self.again is None:
            raise JobmagicError(
                "This sweep result does not know how it was started, so it cannot rerun "
                "runs; use handle.rerun() on each."
            )
        again = [handle for handle in self.handles if handle.run.status in RERUN_STATUSES]
        unsent = [failure for failure in self.failures if failure.safe_to_send_again]
        return self.again(
            [dict(handle.params) for handle in again] + [dict(f.params) for f in unsent],
            [handle.name for handle in again] + [None] * len(unsent),
            concurrency or self.concurrency,
        )

    # -- ranking by the objective ---------------------------------------------------------

    @property
    def goals(self) -> MetricGoals:
        """Which way each metric ranks here: the objective's metric by its goal, the others
        by ``%config JobMagic.metric_goals`` then their names' last token (the board's ★)."""
        table = dict(self.session.settings.metric_goals) if self.session is not None else {}
        return MetricGoals(table, self.objective)

    def ranking(
        self, objective: str | Objective | None = None, goal: str | None = None
    ) -> Objective:
        """The objective runs are ranked by: ``objective`` (``"loss"``, ``"loss:min"``) if
        given, else the sweep's own; an :class:`~jobmagic.errors.ObjectiveError` when there
        is none or its direction is not known (it asks for ``:min`` or ``:max``)."""
        if objective is not None:
            return parse_objective(objective, goal, self.goals.table)
        if self.objective is None:
            title = self._title()
            raise ObjectiveError(
                f"{title[0].upper()}{title[1:]} has no objective: say which metric ranks its "
                "runs, e.g. .best('loss') or .best('accuracy:max') (or start it with "
                "objective=…, --objective on the magic)."
            )
        if goal is not None:
            return parse_objective(self.objective.metric, goal)
        return self.objective

    def values(self, objective: str | Objective | None = None) -> dict[str, float]:
        """Each finished run's value of the objective's metric (its last logged value), by
        run name, in sweep order; runs without it are left out. Fetches what is missing
        (one search per job) and keeps it in the ledger's metric cache."""
        metric = self.ranking(objective).metric
        finished = [h for h in self.handles if h.run.status is RunStatus.FINISHED]
        latest = latest_values(finished)
        return {
            handle.name: values[metric]
            for handle, values in zip(finished, latest, strict=True)
            if metric in values and math.isfinite(values[metric])
        }

    def best(
        self, objective: str | Objective | None = None, *, goal: str | None = None
    ) -> RunHandle:
        """The finished run with the best value of the objective (the sweep's, or
        ``objective`` given here: ``"loss"``, ``"accuracy:max"``); the first in sweep order
        on a tie. Raises :class:`~jobmagic.errors.ObjectiveError` when there is no objective
        or its direction is not known, and :class:`~jobmagic.JobmagicError` when no
        finished run logged that metric yet."""
        ranking = self.ranking(objective, goal)
        values = self.values(ranking)
        if not values:
            finished = sum(1 for h in self.handles if h.run.status is RunStatus.FINISHED)
            live = len(self.live)
            raise JobmagicError(
                f"No finished run of {self._title()} has logged {ranking.metric!r} yet "
                f"({finished} finished, {live} not ended)"
                + (
                    ": .wait() first."
                    if live
                    else ": check the metric's name (.to_dataframe("
                    "metrics=True) shows the ones logged)."
                )
            )
        name = min(values, key=lambda run: ranking.sort_key(values[run]))
        return next(handle for handle in self.handles if handle.name == name)

    def _title(self) -> str:
        return f"sweep {self.name}" if self.name else "this sweep"

    def to_dataframe(self, *, metrics: bool = False) -> pd.DataFrame:
        """The started runs as a DataFrame (see :func:`jobmagic.runs_to_dataframe`); with
        ``metrics``, their ``metrics.*`` columns too, best first by the objective when the
        sweep has one (runs without its value last), else in sweep order."""
        # Deferred: pandas is not loaded until a DataFrame is asked for.
        from jobmagic.frames import runs_to_dataframe

        frame = runs_to_dataframe(self.handles, metrics=metrics)
        column = f"metrics.{self.objective.metric}" if self.objective else ""
        if not metrics or self.objective is None or column not in frame:
            return frame
        ascending = self.objective.minimize
        ordered = frame.sort_values(column, ascending=ascending, na_position="last", kind="stable")
        return ordered.reset_index(drop=True)

    def __repr__(self) -> str:
        return self.summary()
