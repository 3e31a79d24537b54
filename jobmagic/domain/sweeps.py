"""Sweeps: many triggers of one job, and what they came to.

``%%trigger_job --grid``, :func:`jobmagic.sweep` and :meth:`SweepResult.rerun_failed` (through
:func:`run_sweep`) all trigger through the one engine (:mod:`jobmagic.runs.engine`: one ledger row
per run, each committed before it is sent and settled as soon as its answer arrives, so a
kernel killed mid-sweep loses no run the server acknowledged).
:class:`SweepResult` holds the runs it started and the ones that failed, and acts on them
all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from jobmagic.errors import JobmagicError
from jobmagic.models import JobRun, RunStatus
from jobmagic.runs.handle import RunHandle

if TYPE_CHECKING:
    from jobmagic.runs.reconcile import Verdict
    from jobmagic.runs.session import JobSession, ResolvedTarget

__all__ = ["RERUN_STATUSES", "SweepFailure", "SweepResult", "run_sweep"]

#: The runs ``SweepResult.rerun_failed`` triggers again.
RERUN_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TERMINATED})

_T = TypeVar("_T")
_P = ParamSpec("_P")


@dataclass(frozen=True)
class SweepFailure:
    """One run of a sweep that did not start (or may not have): its params and why.

    ``verdict`` is what looking for it on the server found, when its outcome was unknown
    (:mod:`jobmagic.runs.reconcile`): not created (safe to retry), ambiguous, or undecided.
    """

    params: Mapping[str, str]
    error: JobmagicError
    attempt_id: int | None = None
    verdict: Verdict | None = None

    @property
    def outcome_unknown(self) -> bool:
        from jobmagic.errors import TriggerOutcomeUnknown

        return isinstance(self.error, TriggerOutcomeUnknown)

    def describe(self) -> str:
        if self.verdict is None:
            return str(self.error)
        return f"{self.error} Looked for it on the server: {self.verdict.reason}"


@dataclass
class SweepResult:
    """The runs a sweep started, the ones that failed, and how long triggering took.

    Displayed, it is the live runs board plus a summary of failures, with buttons to
    refresh, terminate or rerun the failed ones. The whole sweep at once::

        result.wait()            # every run ended (progress shown as for --wait)
        result.terminate()       # every live run
        again = result.rerun_failed()   # FAILED and TERMINATED ones, as a new sweep
    """

    handles: list[RunHandle] = field(default_factory=list)
    failures: list[SweepFailure] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    # How the sweep was started, so rerun_failed can start the same again.
    session: JobSession | None = field(default=None, repr=False, compare=False)
    resolved: ResolvedTarget | None = field(default=None, repr=False, compare=False)
    command: str | Sequence[str] | None = field(default=None, repr=False, compare=False)
    alias: str | None = field(default=None, repr=False, compare=False)
    concurrency: int = field(default=8, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.handles)

    def __iter__(self) -> Any:
        return iter(self.handles)

    def __getitem__(self, index: int) -> RunHandle:
        return self.handles[index]

    def summary(self) -> str:
        """One line, plus one line per failure: which params, and why."""
        total = len(self.handles) + len(self.failures)
        head = f"Triggered {len(self.handles)} of {total} runs in {self.elapsed:.1f} s"
        if self.interrupted:
            head += " (interrupted: the rest were not sent)"
        lines = [head + ("." if not self.failures else f"; {len(self.failures)} failed:")]
        for failure in self.failures:
            params = " ".join(f"{k}={v}" for k, v in failure.params.items())
            lines.append(f"  ✗ {params}: {failure.describe()}")
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
        from jobmagic.runs.waiting import wait_for
        from jobmagic.widgets.text_views import SweepProgress

        view = SweepProgress() if progress else None
        return wait_for(self.handles, timeout, view=view, on_update=on_update)

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
        """Fetch every run's state now: one list call per application; updates every view."""
        from jobmagic.runs.handle import latest_runs

        if self.session is None:
            return [handle.refresh() for handle in self.handles]
        client = self.session.client
        by_app: dict[str, list[RunHandle]] = {}
        for handle in self.handles:
            by_app.setdefault(handle.application_id or "", []).append(handle)
        fresh: list[JobRun] = []
        for app_id, handles in by_app.items():
            if not app_id:
                fresh += [handle.refresh() for handle in handles]
                continue
            listed = {
                run.name: run for run in latest_runs(client, app_id, {h.name for h in handles})
            }
            for handle in handles:
                run = listed.get(handle.name) or client.get_run(app_id, handle.name)
                handle._apply(run, None)
                fresh.append(run)
        self.session.record_runs(fresh)
        return [handle.run for handle in self.handles]

    def rerun_failed(self, *, concurrency: int | None = None) -> SweepResult:
        """Trigger the FAILED and TERMINATED runs again with the same params, as a new sweep
        (through :func:`run_sweep`); each new attempt's ``rerun_of`` names the run it repeats.

        Statuses are as last seen: :meth:`refresh` or :meth:`wait` first for fresh ones.
        """
        if self.session is None or self.resolved is None:
            raise JobmagicError(
                "This sweep result does not know how it was started, so it cannot rerun "
                "runs; use handle.rerun() on each."
            )
        again = [handle for handle in self.handles if handle.run.status in RERUN_STATUSES]
        return run_sweep(
            self.session,
            self.resolved,
            [dict(handle.params) for handle in again],
            command=self.command,
            alias=self.alias,
            concurrency=concurrency or self.concurrency,
            rerun_of=[handle.name for handle in again],
        )

    def to_dataframe(self) -> Any:
        """The started runs as a DataFrame (see :func:`jobmagic.runs_to_dataframe`)."""
        from jobmagic.frames import runs_to_dataframe

        return runs_to_dataframe(self.handles)

    def __repr__(self) -> str:
        return self.summary()

    def _ipython_display_(self) -> None:
        """Displayed: the live board under the summary, with a display id, so the saved
        notebook's copy follows the runs to their end (not "6 queued" forever)."""
        from jobmagic.widgets.bundles import show

        show(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from jobmagic.widgets.bundles import bundle_for

        return bundle_for(self, include, exclude)


def run_sweep(
    session: JobSession,
    resolved: ResolvedTarget,
    param_sets: Sequence[Mapping[str, str]],
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    concurrency: int = 8,
    on_handle: Callable[[RunHandle], None] | None = None,
    rerun_of: Sequence[str | None] | None = None,
) -> SweepResult:
    """Trigger one run per params mapping, ``concurrency`` at a time; never raises per run
    (bad input is refused for the whole sweep before anything is sent).

    The engine's :func:`~jobmagic.runs.engine.plan` then :func:`~jobmagic.runs.engine.start`;
    ``rerun_of``, parallel to ``param_sets``, names the run each one repeats (for the
    ledger). Ctrl-C stops sending new triggers; the ones in flight are settled and kept.
    Triggers whose outcome is unknown are then looked for on the server: a run found
    becomes a handle like any other; the rest stay failures, with the verdict.
    """
    from jobmagic.runs import engine

    triggers = engine.plan(resolved, param_sets, command=command, alias=alias, rerun_of=rerun_of)
    return engine.start(session, triggers, concurrency=concurrency, on_handle=on_handle)
