"""The public names: what users may import.

* every package's ``__all__`` resolves, and nothing public leaks from it unlisted;
* every module declares ``__all__`` naming only what it defines or re-exports;
* every public name is in the README, with a docstring.

Who may import whom is tests/test_layers.py's.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import jobmagic

ROOT = Path(jobmagic.__file__).parent
PACKAGES = [
    "jobmagic",
    "jobmagic.api",
    "jobmagic.cli",
    "jobmagic.frames",
    "jobmagic.ledger",
    "jobmagic.models",
    "jobmagic.params",
    "jobmagic.widgets",
    "jobmagic.sandbox",
]
# Run as scripts, or hold no code: importing __main__ would start the command line.
NOT_MODULES = {"jobmagic.__main__", "jobmagic._version"}


def module_names() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(ROOT)], prefix="jobmagic."):
        if info.name not in NOT_MODULES:
            names.append(info.name)
    return sorted(names)


def source_of(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == [], f"{package}.__all__ names what it does not have: {missing}"
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ repeats a name"


@pytest.mark.parametrize("package", PACKAGES)
def test_nothing_public_leaks_unlisted(package: str) -> None:
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    # What tab completion offers (``dir``): the exports and the submodules, nothing else.
    public = {name for name in dir(module) if not name.startswith("_")}
    assert public - set(module.__all__) - submodules == set(), f"{package} offers unlisted names"


@pytest.mark.parametrize("name", module_names())
def test_every_module_declares_what_it_exports(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__ list"
    undefined = [item for item in module.__all__ if not hasattr(module, item)]
    assert undefined == [], f"{name}.__all__ names what it does not define: {undefined}"


def test_the_top_level_api_is_documented() -> None:
    """A name users can import is a name the README (or a docstring it points to) shows."""
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    undocumented = [
        name
        for name in jobmagic.__all__
        if not name.startswith("_") and not re.search(rf"\b{re.escape(name)}\b", readme)
    ]
    assert undocumented == []
    for name in jobmagic.__all__:
        value = getattr(jobmagic, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), f"jobmagic.{name} has no docstring"
