"""Search beyond grids: an Optuna study asks for params, the one trigger engine runs them.

:func:`run_search` keeps up to ``concurrency`` trials in flight. Each trial's params are
triggered through :func:`jobmagic.domain.engine.start_fresh` (the ledger-first path every
run takes); then one poll per tick lists the runs' states (one call per application) and,
when a run ended or a pruner listens, searches their ML runs (one call). A trial's value is
its run's objective metric, last logged value (from the ML run, else from the logs by
``JobMagic.metric_patterns``); a failed run, or a FINISHED one that never logged the metric,
is a failed trial with its reason (trial user attribute ``failed_because``). With a pruner,
each new point of the metric's history is reported as it arrives; a pruned trial's run is
terminated at the server.

The study lives in Optuna's RDB storage beside the ledger (:mod:`jobmagic.domain.study`), so
the same ``name`` in a new kernel continues it: a trial still RUNNING there is followed to
its end through the run its user attributes name, never triggered again.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobmagic.api.metrics import logged_values, newest_values, search_app
from jobmagic.domain import engine
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.plan import EngineSession
from jobmagic.domain.progress import ProgressPrinter, in_kernel
from jobmagic.domain.refresh import refresh_runs
from jobmagic.domain.search_result import SearchResult
from jobmagic.domain.search_space import SearchSpace
from jobmagic.domain.study import finite, make_pruner, make_sampler, open_study, studies_path
from jobmagic.domain.sweeps import STOPS_A_SWEEP, SweepFailure, SweepResult
from jobmagic.domain.target import ResolvedTarget
from jobmagic.errors import JobmagicError, ParamsError
from jobmagic.models import JobRun, RunStatus
from jobmagic.models.formatting import format_duration
from jobmagic.models.metrics import compile_patterns
from jobmagic.models.ml import MLRun
from jobmagic.models.objectives import Objective

if TYPE_CHECKING:
    import optuna

    from jobmagic.ledger import SweepRecord

__all__ = ["FIRST_POLL", "pair_outcomes", "run_search"]

#: Fewer trials than this are triggered one by one in the caller's thread (see _trigger).
INLINE_BELOW = 4
#: Seconds between polls right after a change; doubled while nothing changes, up to
#: ``JobMagic.poll_interval``.
FIRST_POLL = 0.05


def run_search(
    session: EngineSession,
    resolved: ResolvedTarget,
    space: SearchSpace,
    objective: Objective,
    *,
    name: str,
    trials: int | None = None,
    concurrency: int = 8,
    sampler: Any = "tpe",
    pruner: Any = "median",
    seed: int | None = None,
    alias: str | None = None,
    progress: bool = True,
    sweep: SweepRecord | None = None,
) -> SearchResult:
    """Add ``trials`` trials to the study ``name`` (created or continued), at most
    ``concurrency`` runs in flight; returns when they all ended (Ctrl-C stops asking for
    more and returns: the trials in flight stay RUNNING and a later call follows them).

    With ``sampler="grid"`` (choices and stepped ranges only), ``trials`` defaults to the
    grid points not tried yet and the search stops once the grid is exhausted.
    """
    grid = space.grid() if _is_grid(sampler) else None
    study = open_study(
        studies_path(session.settings),
        name,
        objective=objective,
        identity={
            "job": resolved.application_id or resolved.target.label,
            "objective": str(objective),
            "space": dict(space.description),
        },
        sampler=make_sampler(sampler, grid=grid, seed=seed),
        pruner=make_pruner(pruner),
    )
    if grid is not None:
        left = math.prod(len(values) for values in grid.values()) - _tried(study)
        trials = max(0, left) if trials is None else min(trials, max(0, left))
    if trials is None:
        raise ParamsError("Say how many runs to add: trials=N (--trials N).")
    if trials < 0:
        raise ParamsError(f"trials must be 0 or more, not {trials}")
    result = SearchResult(
        session=session,
        concurrency=concurrency,
        study=study,
        objective=objective,
        name=name,
        resolved=resolved,
    )
    search = _Search(session, resolved, space, objective, study, result, max(1, concurrency))
    search.alias = alias
    search.sweep = sweep
    search.resume()
    search.run(trials, progress=progress)
    return result


def _is_grid(sampler: Any) -> bool:
    return isinstance(sampler, str) and sampler.strip().lower() == "grid"


def _tried(study: optuna.Study) -> int:
    """Trials a grid sampler counts as taken: finished, pruned or still running."""
    from optuna.trial import TrialState

    taken = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return len(study.get_trials(deepcopy=False, states=taken))


def pair_outcomes(
    param_sets: Sequence[Mapping[str, str]], sweep: SweepResult
) -> list[RunHandle | SweepFailure | None]:
    """Each param set's outcome in ``sweep`` (its handles and failures each keep trigger
    order): the handle or failure whose params it sent, None for a trigger never sent
    (Ctrl-C). Two triggers with the same params are interchangeable.

    >>> from jobmagic.errors import JobmagicError
    >>> failed = SweepFailure({"a": "1"}, JobmagicError("no"))
    >>> pair_outcomes([{"a": "1"}, {"a": "2"}], SweepResult(failures=[failed]))
    [SweepFailure(params={'a': '1'}, error=JobmagicError('no'), attempt_id=None, \
verdict=None, sent=True), None]
    """
    handles, failures = list(sweep.handles), list(sweep.failures)
    out: list[RunHandle | SweepFailure | None] = []
    for params in param_sets:
        if handles and dict(handles[0].params) == dict(params):
            out.append(handles.pop(0))
        elif failures and dict(failures[0].params) == dict(params):
            out.append(failures.pop(0))
        else:
            out.append(None)
    return out


@dataclass
class _Live:
    """A trial in flight: its Optuna trial, its run, the last step reported to the pruner."""

    trial: optuna.trial.Trial
    handle: RunHandle
    step: int = -1


class _Search:
    """One call's search loop (see :func:`run_search`)."""

    def __init__(
        self,
        session: EngineSession,
        resolved: ResolvedTarget,
        space: SearchSpace,
        objective: Objective,
        study: optuna.Study,
        result: SearchResult,
        concurrency: int,
    ) -> None:
        from optuna.pruners import NopPruner

        self.session = session
        self.resolved = resolved
        self.space = space
        self.objective = objective
        self.study = study
        self.result = result
        self.concurrency = concurrency
        self.alias: str | None = None
        self.sweep: SweepRecord | None = None  # the ledger's record each attempt belongs to
        self.live: list[_Live] = []
        self.prunes = not isinstance(study.pruner, NopPruner)
        self.counts: dict[str, int] = {}
        self.stopped: JobmagicError | None = None
        self.best: float | None = None  # of this call's trials, for the progress line
        try:
            self.patterns = compile_patterns(dict(session.settings.metric_patterns or ()))
        except ValueError:
            self.patterns = {}

    # -- resuming ----------------------------------------------------------------------

    def resume(self) -> None:
        """Follow the trials an earlier kernel left RUNNING through their runs."""
        import optuna
        from optuna.trial import TrialState

        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # Optuna has no public way from a stored trial to a Trial that can report.
            trial = optuna.trial.Trial(self.study, frozen._trial_id)
            known = frozen.user_attrs.get("run")
            known = known if isinstance(known, dict) else {}
            run_name = known.get("name")
            if not run_name:
                self._fail(
                    trial,
                    "its run is not known: the kernel stopped while it was being triggered",
                )
                continue
            run = JobRun(
                name=run_name,
                application_id=known.get("application_id"),
                deployment_id=known.get("deployment_id"),
            )
            handle = self.session.handle_for(
                self.resolved, run, params=self.space.params_of(frozen.params)
            )
            steps = list(frozen.intermediate_values)
            self.live.append(_Live(trial, handle, max(steps, default=-1)))
            self.result.handles.append(handle)

    # -- the loop ------------------------------------------------------------------------

    def run(self, budget: int, *, progress: bool) -> None:
        printer = ProgressPrinter(kernel=in_kernel()) if progress else None
        started = time.monotonic()
        interval = FIRST_POLL
        added = 0
        try:
            while True:
                room = min(self.concurrency - len(self.live), budget - added)
                if room > 0 and self.stopped is None:
                    added += self._start(room)
                    self.result.added = added
                if not self.live:
                    if added >= budget or self.stopped is not None:
                        break
                    continue
                time.sleep(interval)
                changed = self._tick()
                interval = FIRST_POLL if changed else min(interval * 2, self._poll_interval())
                if printer is not None:
                    printer.update(self._progress(added, budget, time.monotonic() - started))
        except KeyboardInterrupt:
            self.result.interrupted = True
        finally:
            self.result.elapsed = time.monotonic() - started
            if printer is not None:
                printer.finish(self._progress(added, budget, self.result.elapsed))
        if self.stopped is not None and not self.result.handles:
            raise self.stopped

    def _poll_interval(self) -> float:
        return max(FIRST_POLL, float(self.session.settings.poll_interval))

    def _start(self, count: int) -> int:
        """Ask for ``count`` trials and trigger their runs; returns how many were asked."""
        asked = [self.study.ask(dict(self.space.distributions)) for _ in range(count)]
        param_sets = [self.space.params_of(trial.params) for trial in asked]
        try:
            sweep = self._trigger(param_sets)
        except BaseException as exc:
            for trial in asked:
                self._fail(trial, f"not triggered: {exc}")
            raise
        for trial, outcome in zip(asked, pair_outcomes(param_sets, sweep), strict=True):
            if isinstance(outcome, RunHandle):
                # One write (a commit each): what a resumed search follows the trial by.
                trial.set_user_attr(
                    "run",
                    {
                        "name": outcome.name,
                        "application_id": outcome.application_id,
                        "deployment_id": outcome.deployment_id,
                    },
                )
                self.live.append(_Live(trial, outcome))
                self.result.handles.append(outcome)
                continue
            if outcome is None:
                self._fail(trial, "not sent: the search was interrupted")
                continue
            self.result.failures.append(outcome)
            self._fail(trial, f"not started: {outcome.describe()}")
            if isinstance(outcome.error, STOPS_A_SWEEP):
                self.stopped = outcome.error
        if sweep.interrupted:
            raise KeyboardInterrupt
        return count

    def _trigger(self, param_sets: list[dict[str, str]]) -> SweepResult:
        """The engine's sweep of ``param_sets``. A few (what usually ends between two
        polls) are sent one by one in this thread: the concurrent driver's thread and
        clients cost more than they save for so few."""
        if len(param_sets) >= INLINE_BELOW:
            return self._sweep_of(param_sets)
        done = SweepResult()
        for params in param_sets:
            try:
                one = self._sweep_of([params])
            except KeyboardInterrupt:
                # The runs already started keep their trials; this one's attempt is left
                # pending in the ledger (``%job_runs --reconcile``), its trial failed.
                done.interrupted = True
                break
            done.handles += one.handles
            done.failures += one.failures
            stopped = [f for f in one.failures if isinstance(f.error, STOPS_A_SWEEP)]
            if one.interrupted or stopped:
                done.interrupted = one.interrupted
                break
        return done

    def _sweep_of(self, param_sets: list[dict[str, str]]) -> SweepResult:
        triggers = engine.plan(self.resolved, param_sets, alias=self.alias, sweep=self.sweep)
        return engine.start_fresh(self.session, triggers, concurrency=self.concurrency)[1]

    def _tick(self) -> bool:
        """One poll: the runs' states, their metrics when needed; True if a trial ended."""
        client = self.session.client
        known = [live.handle.run for live in self.live]
        fresh = refresh_runs(client, known)
        for live in self.live:
            run = fresh.runs.get((live.handle.application_id or "", live.handle.name))
            if run is not None:
                live.handle.take(run)
        self.session.record_runs(fresh.changed(known))
        ended = [live for live in self.live if live.handle.run.is_terminal]
        running = [live for live in self.live if not live.handle.run.is_terminal]
        if not ended and not (self.prunes and running):
            return False
        found = self._ml_runs(client, self.live)
        changed = False
        if self.prunes:
            for live in running:
                if self._report(client, live, found.get(live.handle.name, [])):
                    changed = True
        for live in ended:
            self._finish(client, live, found.get(live.handle.name, []))
            changed = True
        return changed

    def _ml_runs(self, client: Any, lives: Sequence[_Live]) -> dict[str, list[MLRun]]:
        by_app: dict[str, set[str]] = {}
        for live in lives:
            if live.handle.application_id:
                by_app.setdefault(live.handle.application_id, set()).add(live.handle.name)
        found: dict[str, list[MLRun]] = {}
        for app_id, names in by_app.items():
            try:
                found.update(search_app(client, app_id, names))
            except JobmagicError:
                continue  # metrics are asked again next tick
        return found

    def _report(self, client: Any, live: _Live, ml_runs: Sequence[MLRun]) -> bool:
        """Report the metric's new points to the pruner; prune (terminate the run) if it
        says so. True if the trial was pruned."""
        if not self._catch_up(client, live, ml_runs) or not live.trial.should_prune():
            return False
        try:
            live.handle.terminate()
        except JobmagicError as exc:
            live.trial.set_user_attr("terminate_error", str(exc))
        live.trial.set_user_attr("pruned_at_step", live.step)
        _tell(self.study, live.trial, state=_state("PRUNED"))
        self._count("PRUNED")
        self.live.remove(live)
        return True

    def _catch_up(self, client: Any, live: _Live, ml_runs: Sequence[MLRun]) -> bool:
        """Report the points of the metric's history past the last one reported (the
        history is read only when the ML run shows a newer step); True if any was."""
        metric = self.objective.metric
        newest = max(
            (_step(run.metrics[metric]) for run in ml_runs if metric in run.metrics),
            default=None,
        )
        if newest is None or newest <= live.step:
            return False
        points: list[tuple[int, float]] = []
        try:
            for ml_run in ml_runs:
                if metric in ml_run.metrics:
                    history = client.metric_history(ml_run.run_id, metric)
                    points.extend((_step(point), point.value) for point in history)
        except JobmagicError:
            return False  # asked again next tick
        reported = False
        for step, value in sorted(points, key=lambda point: point[0]):
            number = finite(value)
            if step > live.step and number is not None:
                live.trial.report(number, step)
                live.step = step
                reported = True
        return reported

    def _finish(self, client: Any, live: _Live, ml_runs: Sequence[MLRun]) -> None:
        """Tell the study how an ended run's trial came out."""
        self.live.remove(live)
        run = live.handle.run
        metric = self.objective.metric
        if self.prunes:
            # The steps logged since the last poll: the pruner compares later trials with
            # this one's whole curve.
            self._catch_up(client, live, ml_runs)
        if run.status != RunStatus.FINISHED:
            why = f"the run ended {run.status.value}"
            self._fail(live.trial, why + (f": {run.error}" if run.error else ""))
            return
        latest = newest_values(ml_runs)
        value = finite(latest.get(metric))
        if value is None and metric in self.patterns and live.handle.application_id:
            try:
                logged = logged_values(
                    client, (live.handle.application_id, run.name), {metric: self.patterns[metric]}
                ).get(metric)
            except JobmagicError:
                logged = None
            value = finite(logged[-1]) if logged else None
        if value is None:
            self._fail(live.trial, f"the run finished without logging metric {metric!r}")
            return
        self._cache(live.handle, {**latest, metric: value})
        _tell(self.study, live.trial, value)
        self._count("COMPLETE")
        if self.best is None or self.objective.better(value, self.best):
            self.best = value

    def _cache(self, handle: RunHandle, latest: Mapping[str, float]) -> None:
        """Keep the run's latest metrics in the ledger's cache (what ``jobmagic.sweeps()``
        and boards rank by without asking the server); metrics are extra: a failed write
        does not stop the search."""
        if not handle.application_id:
            return
        rows = [(handle.application_id, handle.name, k, v, None) for k, v in latest.items()]
        with contextlib.suppress(JobmagicError):
            self.session.ledger.set_metrics(rows)

    def _fail(self, trial: optuna.trial.Trial, reason: str) -> None:
        trial.set_user_attr("failed_because", reason)
        _tell(self.study, trial, state=_state("FAIL"))
        self._count("FAIL")

    def _count(self, state: str) -> None:
        self.counts[state] = self.counts.get(state, 0) + 1

    def _progress(self, added: int, budget: int, elapsed: float) -> str:
        parts = [f"search {self.result.name}: {added}/{budget} trials"]
        if self.live:
            parts.append(f"{len(self.live)} running")
        words = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
        parts += [f"{n} {words[state]}" for state, n in self.counts.items() if n]
        if self.best is not None:
            parts.append(f"best {self.objective.metric} {self.best:.4g}")
        parts.append(format_duration(elapsed))
        return " · ".join(parts)


def _tell(
    study: optuna.Study, trial: optuna.trial.Trial, value: float | None = None, **state: Any
) -> None:
    """``study.tell``, outside ``optimize``: a grid sampler that runs out of points asks the
    study to stop, which Optuna refuses outside ``optimize`` — after storing the trial."""
    try:
        study.tell(trial, value, **state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def _step(point: Any) -> int:
    return int(point.step) if point.step is not None else 0


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]
