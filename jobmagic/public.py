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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmagic.domain import engine
from jobmagic.domain.server_history import server_runs
from jobmagic.domain.session import JobSession, Recovered
from jobmagic.domain.target import Target
from jobmagic.errors import ParamsError
from jobmagic.ipython.args.lines import UsageError, parse_duration_or_date
from jobmagic.ipython.display import register

if TYPE_CHECKING:
    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.sweeps import SweepResult
    from jobmagic.widgets import TriggerFormView

__all__ = [
    "TriggerForm",
    "attach",
    "current_session",
    "recover_ledger",
    "runs",
    "sweep",
    "trigger",
]


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
    application_id: str | None = None,
    deployment_id: str | None = None,
    session: JobSession | None = None,
) -> SweepResult:
    """Trigger many runs of one job: the cartesian product of ``grid``, or each of ``runs``.

    At most ``concurrency`` triggers are in flight; one failure does not stop
    the others. The result displays as a live runs board with a summary.

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
        for name, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise ParamsError(
                    f'grid[{name!r}] must be a list of strings, e.g. ["0.1", "0.01"].'
                )
            for value in values:
                validate_params({name: value})
        param_sets = expand_grid({name: list(values) for name, values in grid.items()})
    else:
        param_sets = [validate_params(one) for one in runs or ()]
    active = session or current_session()
    # As the magic does: a remembered lookup that went stale is looked up once more.
    triggers = engine.plan_for(
        active,
        _target(target, application_id, deployment_id),
        param_sets,
        command=command,
        alias=alias,
    )
    return engine.start_fresh(active, triggers, concurrency=concurrency)[1]


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
    limit: int | None = 50,
    session: JobSession | None = None,
) -> list[RunHandle]:
    """A job's runs as the server lists them (not only jobmagic's), newest first, as handles.

    The filters are the API's own: ``status`` (one or several), ``triggered_by``, ``version``
    (deployment version numbers), ``search`` (a run-name prefix); ``since`` is a datetime,
    ``"2h"``/``"7d"`` or an ISO date. Each handle's ``params`` are those jobmagic sent, else
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
