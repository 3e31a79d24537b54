"""What ``jobmagic.search`` and ``%%trigger_job --search`` share: the user's objective,
space and name read and checked (before anything is stored or sent), the target looked
up, the sweep named, then :func:`jobmagic.domain.search.run_search`.

>>> from jobmagic.public import current_session
>>> result = start_search(current_session(), Target("sandbox:demo:train"),
...     {"lr": {"low": 0.01, "high": 0.2, "log": True}, "epochs": "1"},
...     objective="loss", trials=2, concurrency=2, sampler="random", pruner=None,
...     name="doctest-search-call", progress=False)
>>> result.added, [row.state for row in result.trials()][-2:]
(2, ['COMPLETE', 'COMPLETE'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jobmagic.domain.plan import EngineSession
from jobmagic.domain.search import run_search
from jobmagic.domain.search_result import SearchResult
from jobmagic.domain.search_space import SearchSpace
from jobmagic.domain.study import rdb_storage, studies_path
from jobmagic.domain.sweep_names import new_sweep_name
from jobmagic.domain.sweep_store import open_sweep
from jobmagic.domain.sweeps import SweepResult
from jobmagic.domain.target import Target
from jobmagic.errors import ParamsError
from jobmagic.models.objectives import Objective, parse_objective

__all__ = ["read_objective", "start_search", "with_study"]


def read_objective(
    session: EngineSession, objective: str | Objective | None, goal: str | None
) -> Objective:
    """The objective from ``"loss"``, ``"loss:min"`` or ``("loss", goal="min")``, with the
    user's ``JobMagic.metric_goals`` table; ObjectiveError where the direction is unknown."""
    if objective is None:
        raise ParamsError("A search needs an objective: objective='loss' or 'accuracy:max'.")
    goals = dict(getattr(session.settings, "metric_goals", ()) or ())
    return parse_objective(objective, goal, goals)


def start_search(
    session: EngineSession,
    target: Target,
    space: Mapping[str, Any] | SearchSpace,
    *,
    objective: str | Objective | None,
    goal: str | None = None,
    trials: int | None = None,
    concurrency: int = 8,
    sampler: Any = "tpe",
    pruner: Any = "median",
    name: str | None = None,
    seed: int | None = None,
    alias: str | None = None,
    progress: bool = True,
) -> SearchResult:
    """Read and check everything, then search (see :func:`jobmagic.search`)."""
    chosen = read_objective(session, objective, goal)
    searched = space if isinstance(space, SearchSpace) else SearchSpace.read(space)
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)):
        raise ParamsError(f"trials must be a whole number, not {trials!r}")
    resolved = session.resolve(target)
    if name is None:
        # A made-up name must be new to the ledger (open_sweep sees to it) and to the studies.
        studies = _study_names(session)
        label = resolved.fqn or target.label
        name = new_sweep_name(
            label, taken=lambda made: made in studies or _in_ledger(session, made)
        )
    # The ledger's record of the sweep: a name taken by another job, space or objective is
    # refused here, before anything is stored in the study or sent.
    record = open_sweep(
        session,
        resolved,
        kind="search",
        space=dict(searched.description),
        name=name,
        objective=chosen,
    )
    return run_search(
        session,
        resolved,
        searched,
        chosen,
        name=record.name,
        sweep=record,
        trials=trials,
        concurrency=concurrency,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        alias=alias,
        progress=progress,
    )


def _study_names(session: EngineSession) -> set[str]:
    """The names of the studies stored beside the ledger (a made-up name avoids them)."""
    path = studies_path(session.settings)
    if not path.exists():
        return set()
    import optuna

    return set(optuna.get_all_study_names(rdb_storage(path)))


def _in_ledger(session: EngineSession, name: str) -> bool:
    return session.ledger.sweep(name) is not None


def with_study(result: SweepResult) -> SweepResult:
    """A sweep loaded from the ledger (``jobmagic.load_sweep``) that is a search, as a
    :class:`SearchResult` with its study read back (trials, pictures); any other sweep as it
    is. Optuna is imported only when the sweep's study exists."""
    session: Any = result.session
    if not result.name or session is None or isinstance(result, SearchResult):
        return result
    path = studies_path(session.settings)
    if not path.exists() or result.name not in _study_names(session):
        return result
    import optuna

    study = optuna.load_study(study_name=result.name, storage=rdb_storage(path))
    fields = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    return SearchResult(**fields, study=study)
