"""A sweep's row in the ledger: opened (or found again) before its first trigger is sent.

Every sweep has a name, given or made up (:mod:`jobmagic.domain.sweep_names`), under which
the ledger keeps its job, kind, objective, space, creation time and notebook
(:meth:`jobmagic.ledger.Ledger.add_sweep`). The same name with the same job, space and
objective adds runs to that sweep; with another, it is refused before anything is sent,
naming the difference.

>>> from jobmagic.ledger import SweepRecord
>>> there = SweepRecord("lr-scan", "grid", target="train", space={"lr": ["0.1"]})
>>> here = SweepRecord("lr-scan", "grid", target="train", space={"lr": ["0.2"]})
>>> sweep_differences(there, here)
["its space has lr: ['0.1'], this one lr: ['0.2']"]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jobmagic.domain.sweep_names import check_sweep_name, new_sweep_name
from jobmagic.errors import ObjectiveError, ParamsError
from jobmagic.ledger import SweepRecord
from jobmagic.models.objectives import Objective, parse_objective

if TYPE_CHECKING:
    from jobmagic.domain.plan import EngineSession
    from jobmagic.domain.target import ResolvedTarget

__all__ = ["open_sweep", "record_objective", "sweep_differences", "sweep_job"]

#: How much of a space a message quotes, per key.
_QUOTE = 80


def open_sweep(
    session: EngineSession,
    resolved: ResolvedTarget,
    *,
    kind: str,
    space: Mapping[str, Any],
    name: str | None = None,
    objective: Objective | None = None,
) -> SweepRecord:
    """The ledger's record of this sweep: a new one (``name``, else a made-up one), or the
    stored one of that name when it is the same sweep. Raises :class:`~jobmagic.ParamsError`
    for a badly formed name, or one taken by a sweep of another job, space or objective."""
    ledger = session.ledger
    job = resolved.fqn or resolved.target.label
    if name is None:
        name = new_sweep_name(job, taken=lambda made: ledger.sweep(made) is not None)
    wanted = SweepRecord(
        name=check_sweep_name(name),
        kind=kind,
        host=session.host,
        application_id=resolved.application_id,
        application_fqn=resolved.fqn,
        target=resolved.target.label,
        objective=str(objective) if objective is not None else None,
        # As the ledger gives it back (JSON: tuples become lists), so the two compare.
        space=json.loads(json.dumps(dict(space), sort_keys=True)),
        notebook=session.notebook,
    )
    stored = ledger.add_sweep(wanted)
    differences = sweep_differences(stored, wanted)
    if differences:
        raise ParamsError(
            f"The sweep name {name!r} is taken: {'; '.join(differences)}. Give this sweep "
            "another name (--name on the magic, name= in Python), or none for a new one; "
            f"the same job, space and objective add runs to {name!r}."
        )
    return stored


def record_objective(record: SweepRecord | None) -> Objective | None:
    """A stored sweep's objective (stored with its goal: ``"loss:min"``), if it has one.

    >>> record_objective(SweepRecord("s", "grid", objective="accuracy:max"))
    Objective(metric='accuracy', goal='max')
    """
    if record is None or not record.objective:
        return None
    try:
        return parse_objective(record.objective)
    except ObjectiveError:
        return None  # written by hand or by another release: the sweep ranks nothing


def sweep_job(record: SweepRecord) -> str:
    """The job a sweep runs, as a person reads it: its FQN, else its target or id."""
    return record.application_fqn or record.target or record.application_id or "?"


def sweep_differences(stored: SweepRecord, wanted: SweepRecord) -> list[str]:
    """What makes ``wanted`` another sweep than ``stored`` (of the same name), in words;
    empty when it is the same sweep."""
    found: list[str] = []
    if not _same_job(stored, wanted):
        where = f" on {stored.host}" if stored.host and stored.host != wanted.host else ""
        found.append(f"it sweeps {sweep_job(stored)}{where}, this one {sweep_job(wanted)}")
    if stored.kind != wanted.kind:
        found.append(f"it is a {stored.kind} sweep, this one a {wanted.kind} sweep")
    elif _canonical(stored.space) != _canonical(wanted.space):
        found.append(_space_difference(stored.space, wanted.space))
    if (stored.objective or None) != (wanted.objective or None):
        found.append(
            f"its objective is {stored.objective or 'none'}, this one's "
            f"{wanted.objective or 'none'}"
        )
    return found


def _same_job(a: SweepRecord, b: SweepRecord) -> bool:
    if a.host and b.host and a.host != b.host:
        return False
    if a.application_id and b.application_id:
        return a.application_id == b.application_id
    return sweep_job(a) == sweep_job(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE else text[: _QUOTE - 1] + "…"


def _space_difference(there: Mapping[str, Any], here: Mapping[str, Any]) -> str:
    keys = [
        key
        for key in dict.fromkeys([*there, *here])
        if _canonical(there.get(key)) != _canonical(here.get(key))
    ]
    if not keys:
        return "its space differs from this one's"

    def side(space: Mapping[str, Any], key: str) -> str:
        return f"{key}: {_quote(space[key])}" if key in space else f"no {key}"

    shown = keys[:3]
    more = f" (and {len(keys) - 3} more)" if len(keys) > 3 else ""
    return (
        f"its space has {', '.join(side(there, k) for k in shown)}, this one "
        f"{', '.join(side(here, k) for k in shown)}{more}"
    )
