"""A search's Optuna study, stored with Optuna's RDB storage (SQLite) beside the ledger.

The study is named by the sweep's name, so the same name in a new kernel continues it. Its
user attribute ``jobmagic`` holds what the search is (job, objective, space): a name used
again for another search is refused, naming the difference. Each trial's user attribute
``run`` names its run (``{name, application_id, deployment_id}``), set as soon as the run is
known, so a resumed search finds the runs its trials started and never triggers them again.

SQLite is used in WAL mode with ``synchronous=NORMAL``: a commit survives a killed kernel
(what resuming needs) without a disk flush each; with the default (a flush per commit), a
trial's few writes took tens of milliseconds on a busy disk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmagic.config import jobmagic_home
from jobmagic.errors import JobmagicError, ParamsError
from jobmagic.models.objectives import Objective

if TYPE_CHECKING:
    import optuna

    from jobmagic.config import Settings

__all__ = [
    "STUDIES_FILENAME",
    "make_pruner",
    "make_sampler",
    "open_study",
    "rdb_storage",
    "storage_url",
    "studies_path",
]

#: The SQLite file of every study, beside the ledger.
STUDIES_FILENAME = "studies.sqlite3"


def studies_path(settings: Settings) -> Path:
    """Where the studies live: beside the ledger (``JobMagic.ledger_path``), else in the
    jobmagic home.

    >>> from jobmagic.config import Settings
    >>> studies_path(Settings(ledger_path="/data/jm/ledger.sqlite3"))
    PosixPath('/data/jm/studies.sqlite3')
    """
    ledger = settings.ledger_path
    folder = Path(ledger).expanduser().parent if ledger else jobmagic_home()
    return folder / STUDIES_FILENAME


def storage_url(path: Path) -> str:
    """Optuna's RDB URL of the SQLite file ``path``."""
    return f"sqlite:///{path}"


def rdb_storage(path: Path) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the SQLite file ``path``, in WAL mode without a flush per
    commit (see the module's note)."""
    import sqlite3

    import optuna

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return optuna.storages.RDBStorage(storage_url(path), engine_kwargs={"creator": connect})


def make_sampler(sampler: Any, *, grid: Mapping[str, list[Any]] | None, seed: int | None) -> Any:
    """``"tpe"``, ``"random"``, ``"grid"`` or an Optuna sampler, as an Optuna sampler."""
    import optuna

    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    word = str(sampler).strip().lower()
    if word == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if word == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if word == "grid":
        assert grid is not None, "a grid sampler needs the space's grid"
        return optuna.samplers.GridSampler(dict(grid), seed=seed)
    raise ParamsError(
        f"sampler {sampler!r} is none of 'tpe', 'random', 'grid' or an Optuna sampler"
    )


def make_pruner(pruner: Any) -> Any:
    """``"median"``, ``None``/``"none"`` or an Optuna pruner, as an Optuna pruner."""
    import optuna

    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner is None or str(pruner).strip().lower() in ("none", "no", "off"):
        return optuna.pruners.NopPruner()
    if str(pruner).strip().lower() == "median":
        return optuna.pruners.MedianPruner()
    raise ParamsError(f"pruner {pruner!r} is none of 'median', None or an Optuna pruner")


def open_study(
    path: Path,
    name: str,
    *,
    objective: Objective,
    identity: Mapping[str, Any],
    sampler: Any,
    pruner: Any,
) -> optuna.Study:
    """The study ``name`` in ``path``, created or continued; refused if it was created for
    another search (``identity``: the job, objective and space)."""
    import optuna

    # Optuna's per-trial INFO lines would drown a notebook's output; warnings still show.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = rdb_storage(path)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="minimize" if objective.minimize else "maximize",
        load_if_exists=True,
    )
    stored = study.user_attrs.get("jobmagic")
    wanted = dict(identity)
    if stored is None:
        study.set_user_attr("jobmagic", wanted)
    elif stored != wanted:
        differs = next(
            key for key in sorted({*stored, *wanted}) if stored.get(key) != wanted.get(key)
        )
        raise JobmagicError(
            f"The search {name!r} exists with another {differs} ({stored.get(differs)!r}, not "
            f"{wanted.get(differs)!r}); give this search another name=."
        )
    return study


def finite(value: Any) -> float | None:
    """``value`` as a finite float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
