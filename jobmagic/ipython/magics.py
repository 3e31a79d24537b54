"""The IPython magics: read the line, call the layers below, display.

Thin on purpose (as jupysql's are): parsing lives in :mod:`jobmagic.ipython.args.parsers`
and :mod:`jobmagic.params`, triggering in the one engine (:mod:`jobmagic.domain.engine`),
waiting in :mod:`jobmagic.domain.waiting`, views in :mod:`jobmagic.widgets`. Every expected
failure becomes a :class:`UsageError`: one short paragraph, no traceback, and
the cell still fails so "Run All" stops there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.display import display

from jobmagic.config import Credentials, jobmagic_home
from jobmagic.errors import JobmagicError
from jobmagic.ipython.args import parsers
from jobmagic.ipython.args.help import documented
from jobmagic.ipython.args.parsers import UsageError
from jobmagic.models.metrics import MetricGoals
from jobmagic.models.objectives import Objective, parse_objective
from jobmagic.models.text import view_text

# The session, the engine, the tracker and the views are imported on first use, not here:
# %load_ext imports this module, and a kernel that never triggers should not pay for them.
if TYPE_CHECKING:
    from jobmagic.domain.engine import TriggerPlan
    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.search_result import SearchResult
    from jobmagic.domain.session import JobSession
    from jobmagic.domain.sweeps import SweepResult
    from jobmagic.domain.target import Target
    from jobmagic.ipython.settings import JobMagic
    from jobmagic.ipython.wait_advice import WaitAdvice
    from jobmagic.ledger import LedgerQuery
    from jobmagic.sandbox import SandboxProcess
    from jobmagic.widgets.text_views import InfoView

__all__ = ["JobMagics"]

#: The cell body starts on the cell's second line (the first holds ``%%trigger_job``):
#: error line numbers count from there, as the user's editor does.
BODY_FIRST_LINE = 2


@contextmanager
def _friendly_errors(
    out: str | None = None, namespace: dict[str, Any] | None = None
) -> Iterator[None]:
    """Turn jobmagic's errors into UsageError; with ``-o``, keep the error in the variable."""
    try:
        yield
    except JobmagicError as exc:
        if out and namespace is not None:
            namespace[out] = exc
        # A server's message may carry a job's bytes: cleaned like every run text.
        raise UsageError(view_text(exc)) from None


@magics_class
class JobMagics(Magics):
    """``%%trigger_job``, ``%trigger_job``, ``%job_runs``, ``%job_run`` and ``%jobmagic``."""

    def __init__(self, shell: Any, settings: JobMagic):
        super().__init__(shell)
        self.settings = settings
        self._session: JobSession | None = None
        self.sandbox: SandboxProcess | None = None

    @property
    def session(self) -> JobSession:
        """This shell's session, made on first use (a trigger, a listing, a completion)."""
        if self._session is None:
            from jobmagic.domain.session import JobSession

            self._session = JobSession(self.settings.to_settings)
        return self._session

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's namespace: where -o stores results and {{ var }} is looked up."""
        assert self.shell is not None, "JobMagics is registered with a shell"
        return self.shell.user_ns

    # -- %%trigger_job / %trigger_job ------------------------------------------------------

    @line_cell_magic
    @no_var_expand  # expanded below, after the size check: IPython's own way is quadratic
    @needs_local_scope
    @documented(parsers.PARSERS["trigger_job"])
    def trigger_job(
        self, line: str, cell: str | None = None, local_ns: dict[str, Any] | None = None
    ) -> Any:
        """Trigger a TrueFoundry job; params come from the cell body (YAML) or name=value.

            %%trigger_job sandbox:demo:train --wait
            lr: 0.01
            epochs: 10

        `{{ var }}` in a value is replaced by that notebook variable. The one-line form
        returns the run:

            run = %trigger_job sandbox:demo:hello name=Ada
        """
        from jobmagic import params  # PyYAML: imported on first trigger, not at load

        with _friendly_errors():
            # Before the line is expanded and split, both slow on a huge line. The cell body
            # is checked where it is parsed.
            params.check_text_size(line, "the magic line")
        line = parsers.expand_variables(line, {**self.user_ns, **(local_ns or {})})
        args = parsers.parse_trigger_line(line, cell=cell is not None)
        with _friendly_errors(args.out, self.user_ns):
            result = self._trigger(args, cell)
        if args.out:
            self.user_ns[args.out] = result
        return result if cell is None else None

    def _trigger(self, args: parsers.TriggerArgs, cell: str | None) -> Any:
        from jobmagic.domain import engine

        target = _target(args.target, args.application_id, args.deployment_id)
        if args.search is not None:
            return self._search(args, target, cell or "")
        param_sets, single, axes = self._params(args, cell)
        # Checked here, once, by the request builder: nothing is written or sent before.
        triggers = engine.plan_for(
            self.session, target, param_sets, command=args.command, alias=args.alias
        )
        if args.dry_run:
            from jobmagic.widgets.text_views import DryRunView

            view = DryRunView.build(self.session.host, self.session.credentials().token, triggers)
            display(view)
            return view
        if not single:
            return self._sweep(args, triggers, axes)
        # Waiting means wanting the outcome: a lost answer is looked for on the server.
        handle = engine.trigger_one(self.session, triggers, reconcile_unknown=args.wait)
        if cell is not None and not args.quiet:
            display(handle)
        if args.out:
            # Before waiting: a wait that times out or is interrupted still leaves the handle.
            self.user_ns[args.out] = handle
        if args.wait:
            from jobmagic.ipython.wait_advice import WaitAdvice

            shown = cell is not None and not args.quiet and handle.shows_card
            self._wait([handle], args, WaitAdvice(args.out, card=shown))
        return handle

    def _params(
        self, args: parsers.TriggerArgs, cell: str | None
    ) -> tuple[list[dict[str, str]], bool, dict[str, list[str]]]:
        """The params of every run to trigger, whether this is a single run, and a grid's
        axes (the sweep's space in the ledger)."""
        from jobmagic import params  # PyYAML: imported on first trigger, not at load

        namespace = self.user_ns
        if cell is not None:
            if args.grid:
                axes = params.parse_grid_body(cell, namespace, first_line=BODY_FIRST_LINE)
                return params.expand_grid(axes), False, dict(axes)
            return [params.parse_body(cell, namespace, first_line=BODY_FIRST_LINE)], True, {}
        if args.grid:
            axes = params.parse_kv_grid(list(args.assignments))
            return params.expand_grid(axes), False, dict(axes)
        return [params.parse_kv_args(list(args.assignments))], True, {}

    def _sweep(
        self, args: parsers.TriggerArgs, triggers: TriggerPlan, axes: dict[str, list[str]]
    ) -> SweepResult:
        from dataclasses import replace

        from jobmagic.domain import engine
        from jobmagic.domain.sweep_store import open_sweep

        session = self.session
        objective = None
        if args.objective is not None:
            objective = parse_objective(args.objective, None, dict(session.settings.metric_goals))
        # After the dry run: a sweep only shown is not kept.
        record = open_sweep(
            session,
            triggers.resolved,
            kind="grid",
            space=axes,
            name=args.name,
            objective=objective,
        )
        triggers = replace(triggers, sweep=record)
        concurrency = args.concurrency or self.session.settings.concurrency
        _, result = engine.start_fresh(self.session, triggers, concurrency=concurrency)
        if args.out:
            # The whole sweep, even when no trigger made a run: a sequence of its handles that
            # can also wait, terminate, refresh and rerun its failures (.failures say why).
            self.user_ns[args.out] = result
        if not args.quiet:
            display(result)  # the live board, followed by display id (SweepResult)
        if not result.handles and result.failures:
            raise UsageError(view_text(result.summary()))
        if args.wait:
            from jobmagic.ipython.wait_advice import WaitAdvice

            advice = WaitAdvice(args.out, board=not args.quiet)
            self._wait(result.handles, args, advice, single=False)
        return result

    def _search(self, args: parsers.TriggerArgs, target: Target, cell: str) -> SearchResult:
        """``--search``: the body is the space; the study runs to the end of its trials,
        then the board is shown (the progress line counts trials while it runs)."""
        from jobmagic import params
        from jobmagic.domain.search_call import start_search

        space = params.parse_space_body(cell, self.user_ns, first_line=BODY_FIRST_LINE)
        result = start_search(
            self.session,
            target,
            space,
            objective=args.objective,
            trials=args.trials,
            concurrency=args.concurrency or self.session.settings.concurrency,
            sampler=args.search,
            pruner=args.pruner or "median",
            name=args.name,
            alias=args.alias,
        )
        if args.out:
            self.user_ns[args.out] = result
        if not args.quiet:
            display(result)
        if not result.handles and result.failures:
            raise UsageError(view_text(result.summary()))
        return result

    # -- waiting ---------------------------------------------------------------------------

    def _wait(
        self,
        handles: Sequence[RunHandle],
        args: parsers.TriggerArgs | parsers.JobRerunArgs,
        advice: WaitAdvice,
        *,
        single: bool = True,
    ) -> None:
        """--wait of one run (its status line, its logs with --logs) or of a sweep (its
        progress line): one loop, and the magic's errors for a timeout, Ctrl-C (with
        --cancel-on-interrupt the runs are stopped) and runs that did not finish, whose
        advice names the user's -o variable and the views shown (``advice``)."""
        from jobmagic.domain.progress import SweepProgress
        from jobmagic.domain.waiting import not_finished, stopped_waiting, wait_for
        from jobmagic.ipython.wait_views import RunWaitProgress

        settings = self.session.settings
        view: SweepProgress | RunWaitProgress = (
            RunWaitProgress(handles[0], logs=args.logs, poll_interval=settings.poll_interval)
            if single
            else SweepProgress()
        )
        timeout = args.timeout or settings.wait_timeout
        subject = advice.subject(handles, single=single)
        try:
            runs = wait_for(handles, timeout, view=view, single=single, subject=subject)
        except TimeoutError as exc:
            raise UsageError(str(exc)) from None
        except KeyboardInterrupt:
            stop = advice.stop(handles, single=single)
            stopped = stopped_waiting(handles, args.cancel_on_interrupt, single, advice=stop)
            raise UsageError(stopped) from None
        problem = not_finished(
            handles, runs, single, advice=advice.logs(handles, runs, single=single)
        )
        if problem:
            raise UsageError(problem)

    # -- %job_run ----------------------------------------------------------------------------

    @line_magic
    @documented(parsers.PARSERS["job_run"])
    def job_run(self, line: str) -> Any:
        """Attach to a run that already exists: its handle, shown as a live card."""
        args = parsers.parse_job_run_line(line)
        with _friendly_errors(args.out, self.user_ns):
            handle = self.session.attach(args.name, _target(args.app, args.application_id))
        if args.out:
            self.user_ns[args.out] = handle
        return handle

    # -- %job_runs ---------------------------------------------------------------------------

    @line_magic
    @documented(parsers.PARSERS["job_runs"])
    def job_runs(self, line: str) -> Any:
        """The runs you triggered, as a live board or a DataFrame.

        Live statuses are asked of the server first (one list call per application with a
        live run); --stored shows the ledger's statuses without asking. --refresh does the
        same as the default but fails when the server cannot be reached.

        --reconcile looks for the runs of triggers whose outcome is unknown (a lost answer,
        a 5xx, a kernel killed mid-trigger) and settles each: acknowledged, not-created
        (safe to retry) or ambiguous. It never triggers anything.
        """
        args = parsers.parse_job_runs_line(line)
        if args.server is not None:
            return self._server_runs(args)
        with _friendly_errors(args.out, self.user_ns):
            if args.reconcile:
                from jobmagic.widgets.text_views import reconcile_summary

                print(reconcile_summary(self.session.reconcile()))
            swept = self._sweep_record(args.sweep)
            query = self._ledger_entries(args)
            ledger = self.session.ledger
            frame: Any = None
            found: dict[Any, Any] = {}
            if args.metrics:
                from jobmagic.frames import frame_with_metrics

                frame, found = frame_with_metrics(
                    ledger.page(query, size=None),
                    client=self.session.client,
                    metric_patterns=dict(self.session.settings.metric_patterns) or None,
                )
            elif args.out or args.table:
                from jobmagic.frames import ledger_frame

                frame = ledger_frame(ledger, query)  # every matching row, however many
        if args.out:
            self.user_ns[args.out] = frame
        if args.table:
            from jobmagic.frames import style_runs

            return style_runs(frame)  # a large frame shows its first rows and says so
        from dataclasses import replace
        from functools import partial

        from jobmagic.widgets import RunsBoard
        from jobmagic.widgets.pages import LedgerPages
        from jobmagic.widgets.text_views import attempts_without_runs

        note = attempts_without_runs(ledger.page(replace(query, with_run=False), size=None))
        if note:
            print(note)  # the board shows runs; these attempts have none to show
        # The board reads a page at a time (and counts every row) from the ledger.
        # Each page's rows carry their metrics: the frame's (no second search), else the
        # server's for ended runs (unless --stored, which asks the server nothing).
        to_sources = partial(
            self.session.handles_for_entries, metrics=found, ask_server=not args.stored
        )
        pages = LedgerPages(ledger, replace(query, with_run=True), to_sources)
        return RunsBoard(pages=pages, goals=self._goals(swept), note=swept[1] if swept else "")

    def _sweep_record(self, name: str | None) -> tuple[Objective | None, str] | None:
        """``%job_runs --sweep NAME``: the sweep's objective and the line over its board."""
        if name is None:
            return None
        from jobmagic.domain.sweep_loading import find_sweep, sweep_note
        from jobmagic.domain.sweep_store import record_objective

        record = find_sweep(self.session, name)
        return record_objective(record), sweep_note(record)

    def _goals(self, swept: tuple[Objective | None, str] | None) -> Callable[[], MetricGoals]:
        """Which way a board's metrics rank, read at each draw (``%config`` may change)."""
        objective = swept[0] if swept else None
        session = self.session
        return lambda: MetricGoals(dict(session.settings.metric_goals), objective)

    def _ledger_entries(self, args: parsers.JobRunsArgs) -> LedgerQuery:
        """The ledger query %job_runs lists, its live runs refreshed first (unless --stored)."""
        from jobmagic.domain.listing import listing_query

        return listing_query(
            self.session,
            statuses=[str(status) for status in args.statuses],
            everything=args.all,
            app=args.app,
            since=args.since,
            limit=args.limit,
            stored=args.stored,
            strict=args.refresh,
            sweep=args.sweep,
        )

    def _server_runs(self, args: parsers.JobRunsArgs) -> Any:
        """``%job_runs --server``: the job's runs as the server lists them, with the params
        the ledger recorded or read back from each run's command."""
        from jobmagic.domain.server_history import DEFAULT_LIMIT, server_runs
        from jobmagic.frames import runs_to_dataframe

        server = args.server
        assert server is not None
        with _friendly_errors(args.out, self.user_ns):
            handles = server_runs(
                self.session,
                _target(args.app),
                statuses=[str(status) for status in args.statuses],
                triggered_by=server.triggered_by,
                versions=server.versions,
                search_prefix=server.search,
                since=args.since,
                limit=args.limit or DEFAULT_LIMIT,
            )
            frame = runs_to_dataframe(handles)
        if args.out:
            self.user_ns[args.out] = frame
        if args.table:
            from jobmagic.frames import style_runs

            return style_runs(frame)
        from jobmagic.widgets import RunsBoard

        return RunsBoard(handles, goals=self._goals(None))

    # -- %job_rerun --------------------------------------------------------------------------

    @line_magic
    @documented(parsers.PARSERS["job_rerun"])
    def job_rerun(self, line: str) -> Any:
        """Trigger a run again: the same job and params, with the changes given as
        name=value; returns the new run's handle, whose card says which run it repeats.

            %job_rerun train-ab12c --app sandbox:demo:train lr=0.2 --wait

        The params are those jobmagic sent, else the ones read back from the run's command
        (a run started outside jobmagic); when they cannot be, its command is sent again.
        """
        from jobmagic import params  # PyYAML: imported on first trigger, not at load

        args = parsers.parse_job_rerun_line(line)
        with _friendly_errors(args.out, self.user_ns):
            changes = params.parse_kv_args(list(args.assignments))
            original = self.session.attach(args.name, _target(args.app, args.application_id))
            handle = original.rerun(changes, command=args.command, alias=args.alias)
        if args.out:
            self.user_ns[args.out] = handle  # before waiting: an interrupted wait keeps it
        if args.wait:
            # The status line shows the run while waiting; the handle (its card) comes after,
            # so a failed wait has no card to point to.
            from jobmagic.ipython.wait_advice import WaitAdvice

            self._wait([handle], args, WaitAdvice(args.out))
        # A line magic returns its result (-q only keeps the magic from displaying it itself).
        return handle

    # -- %jobmagic ---------------------------------------------------------------------------

    @line_magic
    @documented(parsers.PARSERS["jobmagic"])
    def jobmagic(self, line: str) -> Any:
        """Where jobmagic points, or manage the local sandbox.

        %jobmagic                       host, where the token came from, version, ledger
        %jobmagic sandbox start         start a local sandbox and point this session at it
        %jobmagic sandbox stop|status
        %jobmagic ledger recover [PATH] copy a damaged ledger's runs into the ledger
        """
        from jobmagic.ipython.info import info_view

        words = parsers.parse_jobmagic_line(line)
        if not words:
            return info_view(self.session, self.sandbox)
        if words[0] == "sandbox" and len(words) == 2 and words[1] in _SANDBOX_ACTIONS:
            with _friendly_errors():
                return _SANDBOX_ACTIONS[words[1]](self)
        if words[:2] == ["ledger", "recover"] and len(words) <= 3:
            with _friendly_errors():
                recovered = self.session.recover_ledger(words[2] if len(words) == 3 else None)
            print(recovered)
            return recovered
        raise UsageError(
            f"%jobmagic: unknown command {' '.join(words)!r}. Use %jobmagic, "
            "%jobmagic sandbox start|stop|status, or %jobmagic ledger recover [PATH]."
        )

    def sandbox_start(self) -> InfoView:
        from jobmagic.ipython.info import info_view
        from jobmagic.sandbox import ensure_sandbox_process

        if self.sandbox is None or not self.sandbox.alive():
            self.sandbox = ensure_sandbox_process(jobmagic_home() / "sandbox")
        source = self.sandbox.label
        self.session.use_credentials(
            Credentials(
                self.sandbox.host, self.sandbox.token, host_source=source, token_source=source
            )
        )
        return info_view(self.session, self.sandbox, headline="Sandbox running")

    def sandbox_stop(self) -> InfoView:
        from jobmagic.ipython.info import info_view

        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        self.session.use_credentials(None)
        return info_view(self.session, None, headline="Sandbox stopped")

    def sandbox_status(self) -> InfoView:
        from jobmagic.ipython.info import info_view

        running = self.sandbox is not None and self.sandbox.alive()
        headline = "Sandbox running" if running else "No sandbox started from this session"
        return info_view(self.session, self.sandbox if running else None, headline=headline)

    def close(self) -> None:
        """Stop the tracker and a sandbox this session started (kernel shutdown, unload)."""
        if self._session is not None:
            self._session.close()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None


def _target(
    app: str | None, application_id: str | None = None, deployment_id: str | None = None
) -> Target:
    from jobmagic.domain.target import Target

    return Target(app, application_id, deployment_id)


_SANDBOX_ACTIONS: dict[str, Callable[[JobMagics], Any]] = {
    "start": JobMagics.sandbox_start,
    "stop": JobMagics.sandbox_stop,
    "status": JobMagics.sandbox_status,
}
