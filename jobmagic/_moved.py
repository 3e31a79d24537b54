"""Old import paths of modules that moved in 0.x (the layers), kept for one release.

``import jobmagic.magic_args`` still works: it warns ``DeprecationWarning`` naming the new
path and gives the moved module itself (one object, so a patch through either name is seen
through both). ``CHANGELOG.md`` lists the moves.

>>> import sys, warnings
>>> _ = sys.modules.pop("jobmagic.magic_args", None)  # as in a fresh process
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     from jobmagic.magic_args import PARSERS
>>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
jobmagic.magic_args moved to jobmagic.ipython.args.parsers; import it from there
(the old path goes in the next release)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED", "MovedFinder", "install"]

#: Old module -> where it lives now.
MOVED: dict[str, str] = {
    "jobmagic.mlmodels": "jobmagic.models.ml",
    "jobmagic.command_match": "jobmagic.models.commands",
    "jobmagic.session": "jobmagic.domain.session",
    "jobmagic.engine": "jobmagic.domain.engine",
    "jobmagic.tracking": "jobmagic.domain.handle",
    "jobmagic.tracker": "jobmagic.domain.tracker",
    "jobmagic.waiting": "jobmagic.domain.waiting",
    "jobmagic.sweeps": "jobmagic.domain.sweeps",
    "jobmagic.reconcile": "jobmagic.domain.reconcile",
    "jobmagic.history": "jobmagic.domain.server_history",
    "jobmagic.metrics": "jobmagic.domain.metrics",
    "jobmagic.metric_views": "jobmagic.frames.metric_views",
    "jobmagic.highlevel": "jobmagic.public",
    "jobmagic.extension": "jobmagic.ipython.extension",
    "jobmagic.magics": "jobmagic.ipython.magics",
    "jobmagic.settings": "jobmagic.ipython.settings",
    "jobmagic.completion": "jobmagic.ipython.completion",
    "jobmagic.magic_args": "jobmagic.ipython.args.parsers",
    "jobmagic.history_args": "jobmagic.ipython.args.server_runs",
    "jobmagic.magic_help": "jobmagic.ipython.args.help",
    "jobmagic.demo": "jobmagic.cli.demo",
}


class _MovedLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; import it from there "
            "(the old path goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its new name."""


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old names in :data:`MOVED` (and nothing else)."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedLoader(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once per process (importing jobmagic does)."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedFinder())
