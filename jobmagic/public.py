"""The public functions: ``trigger``, ``sweep``, ``attach``, ``runs``, ``TriggerForm``.

Inside IPython with ``%load_ext jobmagic`` these share the extension's
session (its settings, ledger and tracker); elsewhere each call makes a
session from the environment (``TFY_HOST``/``TFY_API_KEY`` or ``tfy login``). The top of
the layers: it may use every one below it.

>>> run = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
>>> run.wait(timeout=60).exit_code
0
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmagic.domain import engine, sweep_loading
from jobmagic.domain.server_history import server_runs
from jobmagic.domain.session import JobSession, Recovered
from jobmagic.domain.sweep_loading import sweeps_frame
from jobmagic.domain.sweep_store import open_sweep
from jobmagic.domain.target import Target
from jobmagic.errors import ObjectiveError, ParamsError
from jobmagic.ipython.args.lines import UsageError, parse_duration_or_date
from jobmagic.ipython.display import register
from jobmagic.models.objectives import parse_objective

if TYPE_CHECKING:
    import pandas as pd

    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.search_result import SearchResult
    from jobmagic.domain.sweeps import SweepResult
    from jobmagic.models.objectives import Objective
    from jobmagic.widgets import TriggerFormView

__all__ = [
    "TriggerForm",
    "attach",
    "current_session",
    "load_sweep",
    "recover_ledger",
    "runs",
    "search",
    "search_runs",
    "sweep",
    "sweeps",
    "trigger",
]


#: MLflow's ``search_runs`` default ``max_results``: ``runs`` and ``search_runs`` read every
#: page up to it.
MAX_RESULTS = 100_000


def current_session() -> JobSession:
    """The extension's session in this IPython shell, else a new one from the environment.

    In a shell, run handles and sweep results display as their live views from then on
    (:func:`jobmagic.ipython.display.register`), with or without ``%load_ext``.
    """
    # No shell can exist where IPython was never imported: a script need not import it
    # (a tenth of a second), and a trigger need not run an import statement.
    ipython = sys.modules.get("IPython.core.getipython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return JobSession()
    register(shell)  # handles and sweep results display as their live views here too
    magics = shell.magics_manager.registry.get("JobMagics")
    session = getattr(magics, "session", None)
    return session if isinstance(session, JobSession) else JobSession()


def _target(target: str | None, application_id: str | None, deployment_id: str | None) -> Target:
    return Target(app=target, application_id=application_id, deployment_id=deployment_id)


def trigger(
    target: str | None = None,
    params: Mapping[str, str] | None = None,
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    application_id: str | None = None,
    deployment_id: str | None = None,
    session: JobSession | None = None,
) -> RunHandle:
    """Trigger one run of a job and return its handle.

    ``target`` is an application FQN (``cluster:workspace:app``) or name; or
    pass ``application_id=`` / ``deployment_id=``. Param values must be strings.

    >>> run = trigger("sandbox:demo:hello", {"name": "Ada"})
    >>> run.wait(timeout=60).status
    <RunStatus.FINISHED: 'FINISHED'>
    >>> run.logs()[-1].log
    'hello Ada'
    """
    # Deferred: the params package loads PyYAML, which importing jobmagic does not need.
    from jobmagic.params import validate_params

    checked = validate_params(params or {})
    return engine.trigger(
        session or current_session(),
        _target(target, application_id, deployment_id),
        checked,
        command=command,
        alias=alias,
    )


def sweep(
    target: str | None = None,
    grid: Mapping[str, Sequence[str]] | None = None,
    runs: Sequence[Mapping[str, str]] | None = None,
    *,
    concurrency: int = 8,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    name: str | None = None,
    objective: str | Objective | None = None,
    goal: str | None = None,
    application_id: str | None = None,
    deployment_id: str | None = None,
    session: JobSession | None = None,
) -> SweepResult:
    """Trigger many runs of one job: the cartesian product of ``grid``, or each of ``runs``.

    At most ``concurrency`` triggers are in flight; one failure does not stop
    the others. The result displays as a live runs board with a summary.

    The sweep is kept in the ledger under ``name`` (made up when not given, e.g.
    ``train-brisk-otter``): :func:`load_sweep` gives it back in another process, and the
    same name with the same job, grid (or runs) and objective adds runs to it; a name taken
    by another sweep is refused. ``objective`` ranks its runs (``"loss"``,
    ``"accuracy:max"``, or ``"loss"`` with ``goal="min"``): the board's ★ and sort,
    :meth:`SweepResult.best`, and ``to_dataframe(metrics=True)`` follow it.

    >>> result = sweep("sandbox:demo:train", grid={"lr": ["0.1", "0.01"], "epochs": ["1"]})
    >>> ended = result.wait(timeout=60)     # a progress line while it waits
    2 runs · ...
    >>> [run.status.value for run in ended]
    ['FINISHED', 'FINISHED']
    >>> result.to_dataframe()["params.lr"].tolist()
    ['0.1', '0.01']
    """
    # Deferred: the params package loads PyYAML, which importing jobmagic does not need.
    from jobmagic.params import expand_grid, validate_params

    if (grid is None) == (runs is None):
        raise ParamsError("Give either grid={name: [values…]} or runs=[{…}, …], not both.")
    if grid is not None:
        for param, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise ParamsError(
                    f'grid[{param!r}] must be a list of strings, e.g. ["0.1", "0.01"].'
                )
            for value in values:
                validate_params({param: value})
        param_sets = expand_grid({param: list(values) for param, values in grid.items()})
    else:
        param_sets = [validate_params(one) for one in runs or ()]
    active = session or current_session()
    ranking = _objective(active, objective, goal)
    # As the magic does: a remembered lookup that went stale is looked up once more.
    triggers = engine.plan_for(
        active,
        _target(target, application_id, deployment_id),
        param_sets,
        command=command,
        alias=alias,
    )
    space = {n: list(v) for n, v in grid.items()} if grid is not None else {"runs": param_sets}
    record = open_sweep(
        active,
        triggers.resolved,
        kind="grid" if grid is not None else "runs",
        space=space,
        name=name,
        objective=ranking,
    )
    triggers = replace(triggers, sweep=record)
    return engine.start_fresh(active, triggers, concurrency=concurrency)[1]


def _objective(
    session: JobSession, objective: str | Objective | None, goal: str | None
) -> Objective | None:
    """The objective given to a sweep, its goal from ``goal``, ``"loss:min"``, the user's
    ``%config JobMagic.metric_goals`` or the name's last token (else ObjectiveError)."""
    if objective is None:
        if goal is not None:
            raise ObjectiveError(f"goal={goal!r} needs an objective: objective='loss', say.")
        return None
    return parse_objective(objective, goal, dict(session.settings.metric_goals))


def sweeps(*, limit: int | None = None, session: JobSession | None = None) -> pd.DataFrame:
    """Every sweep in the ledger (the newest ``limit``), newest first, as a DataFrame:
    ``name job kind objective best runs finished live failed terminated not_started created
    notebook``. ``best`` is the best value of the objective among its runs' cached metrics
    (as last fetched: nothing is asked of the server); ``notebook`` the notebook it was
    started from, where Jupyter said.

    >>> ran = sweep("sandbox:demo:train", grid={"lr": ["0.1"], "epochs": ["1"]}, name="docs-scan")
    >>> "docs-scan" in set(sweeps()["name"])
    True
    """
    active = session or current_session()
    active.flush_metric_cache()  # the best values fetched a moment ago count too
    return sweeps_frame(active.ledger.sweep_summaries(limit))


def load_sweep(name: str, *, session: JobSession | None = None) -> SweepResult:
    """The sweep ``name`` from the ledger, in any process: its runs as live handles (their
    statuses asked of the server), its board when displayed, ``best()`` by its objective,
    ``wait()``, ``terminate()`` and ``rerun_failed()`` (its reruns join the same sweep).

    >>> ran = sweep("sandbox:demo:train", runs=[{"lr": "0.1", "epochs": "1"}], name="docs-load")
    >>> again = load_sweep("docs-load")
    >>> again.name, [handle.name for handle in again] == [handle.name for handle in ran]
    ('docs-load', True)
    """
    return sweep_loading.load_sweep(session or current_session(), name)


def search(
    target: str | None = None,
    space: Mapping[str, Any] | None = None,
    *,
    objective: str | Objective | None = None,
    goal: str | None = None,
    trials: int | None = None,
    concurrency: int = 8,
    sampler: Any = "tpe",
    pruner: Any = "median",
    name: str | None = None,
    seed: int | None = None,
    alias: str | None = None,
    progress: bool = True,
    application_id: str | None = None,
    deployment_id: str | None = None,
    session: JobSession | None = None,
) -> SearchResult:
    """Search a job's params with Optuna (``pip install 'jobmagic[search]'``): ``trials`` more
    runs, ``concurrency`` at a time, each trial's value its run's ``objective`` metric.

    ``space``: a fixed value (text), a list of choices, a range ``{"low": 1e-4, "high": 0.1,
    "log": True}`` or ``{"low": 1, "high": 5, "step": 1}`` (ints when the bounds and step are
    ints), or Optuna's own distributions. ``objective``: ``"loss"``, ``"accuracy:max"``, or
    a metric and ``goal="min"``. ``sampler``: ``"tpe"``, ``"random"``, ``"grid"`` (then
    ``trials`` defaults to the grid's untried points) or an Optuna sampler; ``pruner``:
    ``"median"``, ``None`` or an Optuna pruner (a pruned trial's run is terminated). The
    study is stored beside the ledger under ``name`` (made up when not given): the same name
    later, in any kernel, continues it. Blocks until this call's runs ended (Ctrl-C stops
    asking for more); returns the :class:`~jobmagic.domain.search_result.SearchResult`.

    >>> found = search("sandbox:demo:train", {"lr": {"low": 0.01, "high": 0.2}, "epochs": "1"},
    ...                objective="loss", trials=2, sampler="random", progress=False)
    >>> found.added, found.best().status.value
    (2, 'FINISHED')
    """
    # Deferred: Optuna (a quarter of a second) loads on the first search, not with jobmagic.
    from jobmagic.domain.search_call import start_search

    return start_search(
        session or current_session(),
        _target(target, application_id, deployment_id),
        space if space is not None else {},
        objective=objective,
        goal=goal,
        trials=trials,
        concurrency=concurrency,
        sampler=sampler,
        pruner=pruner,
        name=name,
        seed=seed,
        alias=alias,
        progress=progress,
    )


def attach(
    name: str,
    target: str | None = None,
    *,
    application_id: str | None = None,
    session: JobSession | None = None,
) -> RunHandle:
    """A handle for a run that already exists (what ``%job_run`` does)."""
    return (session or current_session()).attach(name, _target(target, application_id, None))


def runs(
    target: str | None = None,
    *,
    application_id: str | None = None,
    status: Sequence[str] | str = (),
    triggered_by: Sequence[str] | str = (),
    version: Sequence[int | str] | int | str = (),
    search: str | None = None,
    since: str | datetime | None = None,
    limit: int | None = MAX_RESULTS,
    session: JobSession | None = None,
) -> list[RunHandle]:
    """A job's runs as the server lists them (not only jobmagic's), newest first, as handles.

    The filters are the API's own: ``status`` (one or several), ``triggered_by``, ``version``
    (deployment version numbers), ``search`` (a run-name prefix); ``since`` is a datetime,
    ``"2h"``/``"7d"`` or an ISO date. Every page is read up to ``limit`` runs (100,000 by
    default, MLflow's ``max_results``; ``limit=50`` for the newest 50 only, ``None`` for
    all). Each handle's ``params`` are those jobmagic sent, else
    the ones read back from the run's command by the job's template (empty when that is
    ambiguous); ``handle.rerun(lr="0.2")`` triggers it again.

    >>> trigger("sandbox:demo:fail").wait(timeout=60).status
    <RunStatus.FAILED: 'FAILED'>
    >>> failed = runs("sandbox:demo:fail", status="FAILED", since="1d")
    >>> int(jobmagic.runs_to_dataframe(failed)["exit_code"].iloc[0])
    3
    """

    def many(value: Any) -> list[Any]:
        return [value] if isinstance(value, (str, int)) else list(value)

    try:
        moment = parse_duration_or_date(since) if isinstance(since, str) else since
    except UsageError as exc:  # the magics' wording, raised as the Python API's error
        raise ParamsError(str(exc).replace("--since ", "since=")) from None
    return server_runs(
        session or current_session(),
        _target(target, application_id, None),
        statuses=[str(s).upper() for s in many(status)],
        triggered_by=many(triggered_by),
        versions=many(version),
        search_prefix=search,
        since=moment,
        limit=limit,
    )


def search_runs(
    target: str | None = None,
    *,
    ml_repo: str | None = None,
    filter_string: str = "",
    order_by: Sequence[str] | str | None = None,
    max_results: int = MAX_RESULTS,
    application_id: str | None = None,
    session: JobSession | None = None,
) -> pd.DataFrame:
    """ML runs found by the server, as a DataFrame: MLflow's ``search_runs``.

    ``filter_string`` and ``order_by`` are MLflow's grammar (``"metrics.loss < 0.5 and
    params.lr = '0.1'"``, ``["metrics.loss ASC"]``; default order newest first);
    ``target`` (a job's FQN or name, or ``application_id=``) keeps the ML runs its job
    runs logged, ``ml_repo`` (a repo's name) those of one ML repo. Pages are read until
    ``max_results`` runs (100,000, as MLflow) or the last page. Columns: ``name`` (the job
    run that logged the ML run), ``ml_run_id`` (MLflow's ``run_id``), ``status``,
    ``created_at``, ``end_time``, …, ``params.*``, ``metrics.*`` (latest values), ``tags.*``
    (see :func:`jobmagic.runs_to_dataframe`).

    >>> _ = trigger("sandbox:demo:train", {"lr": "0.5", "epochs": "2"}).wait(timeout=60)
    >>> df = search_runs("sandbox:demo:train", filter_string="params.lr = '0.5'",
    ...                  order_by=["metrics.loss ASC"])
    >>> df[["params.lr", "params.epochs"]].iloc[0].tolist(), bool(df["ml_run_id"].notna().all())
    (['0.5', '2'], True)
    """
    # Deferred: pandas loads when a frame is asked for.
    from jobmagic.frames._search import search_frame

    active = session or current_session()
    app_id = None
    if target is not None or application_id is not None:
        app_id = active.resolve(_target(target, application_id, None)).application_id
    repo_ids = [active.client.find_ml_repo(ml_repo).id] if ml_repo else None
    return search_frame(
        active.client,
        filter_string=filter_string,
        application_id=app_id,
        experiment_ids=repo_ids,
        order_by=[order_by] if isinstance(order_by, str) else order_by,
        max_results=max_results,
    )


def recover_ledger(
    path: str | Path | None = None, *, session: JobSession | None = None
) -> Recovered:
    """Copy every readable run of a damaged ledger into the ledger, and settle the copied
    attempts whose outcome was never known against the server (``%jobmagic ledger recover``).

    ``path`` is the damaged file (a ledger moves a damaged file aside to
    ``<name>.damaged-<UTC stamp>`` and says so); by default, the newest one beside the ledger.

    >>> jobmagic.recover_ledger("/nowhere/ledger.sqlite3.damaged-20260101T000000Z")
    Traceback (most recent call last):
    ...
    jobmagic.errors.LedgerError: ...
    """
    return (session or current_session()).recover_ledger(path)


def TriggerForm(
    target: str | None = None,
    *,
    application_id: str | None = None,
    deployment_id: str | None = None,
    session: JobSession | None = None,
) -> TriggerFormView:
    """A form to trigger a job: its declared params as fields, a Trigger button, cards below.

    >>> form = jobmagic.TriggerForm("sandbox:demo:train")
    >>> {name: field.value for name, field in form.fields.items()}
    {'lr': '0.01', 'epochs': '3'}
    """
    # Deferred: PyYAML and ipywidgets load when a form is made, not with jobmagic.
    from jobmagic.params import parse_body, validate_params
    from jobmagic.widgets.card import RunCard
    from jobmagic.widgets.form import TriggerFormView

    active = session or current_session()
    the_target = _target(target, application_id, deployment_id)
    resolved = active.resolve(the_target)
    specs = resolved.application.params if resolved.application is not None else ()

    def submit(values: Mapping[str, str] | str, command: str | None) -> Any:
        chosen = parse_body(values, {}) if isinstance(values, str) else validate_params(values)
        if command:
            chosen = {}
        return engine.trigger(
            active, the_target, chosen, command=command or None, resolved=resolved
        )

    title = resolved.fqn or the_target.label
    return TriggerFormView(specs, on_submit=submit, card=RunCard, title=f"Trigger {title}")
