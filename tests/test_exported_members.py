"""The public names and the import layers: what users may import, and who may import whom.

Three checks keep the architecture (the README's Development section) from drifting:

* every package's ``__all__`` resolves, and nothing public leaks from it unlisted;
* every module declares ``__all__`` naming only what it defines or re-exports;
* imports run one way — the vocabulary (``models``, ``errors``) imports nothing of jobmagic's,
  the HTTP layer only the vocabulary, the sandbox only the vocabulary and itself, and the
  views never the magics.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import jobmagic

ROOT = Path(jobmagic.__file__).parent
PACKAGES = [
    "jobmagic",
    "jobmagic.api",
    "jobmagic.frames",
    "jobmagic.ledger",
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


# -- the layers ----------------------------------------------------------------------------

#: Who may import whom, inside jobmagic. A module matches the longest prefix listed; its
#: imports of jobmagic's own modules (at any depth: a late import counts) must start with
#: one of the allowed prefixes.
LAYERS: dict[str, tuple[str, ...]] = {
    "jobmagic._lazy": (),
    "jobmagic.models": ("jobmagic.errors",),
    "jobmagic.models.ml": ("jobmagic.models", "jobmagic.errors"),
    "jobmagic.errors": (),
    # The credentials and settings: below the HTTP layer, which resolves a token with them.
    "jobmagic.config": ("jobmagic.errors", "jobmagic.models"),
    "jobmagic.api": (
        "jobmagic.api",
        "jobmagic.models",
        "jobmagic.models.ml",
        "jobmagic.errors",
        "jobmagic.config",
        "jobmagic._lazy",
        "jobmagic._version",
    ),
    # Parsing a cell body is pure: it knows the errors and the param-name rule, nothing else.
    "jobmagic.params": ("jobmagic.params", "jobmagic.errors", "jobmagic.models", "jobmagic._lazy"),
    "jobmagic.sandbox": (
        "jobmagic.sandbox",
        "jobmagic.models",
        "jobmagic.errors",
        "jobmagic._lazy",
    ),
}
#: Nothing below the magics imports them: the magics sit on top of everything else.
NEVER_IMPORT_MAGICS = ("jobmagic.widgets", "jobmagic.runs.handle", "jobmagic.runs.session")


def jobmagic_imports(module: ModuleType | str) -> set[str]:
    """Every jobmagic module a module's source imports, at any depth (late imports too)."""
    name = module if isinstance(module, str) else module.__name__
    path = source_of(name)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # `from jobmagic import params` imports the module jobmagic.params.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {item for item in found if item == "jobmagic" or item.startswith("jobmagic.")}


def layer_of(name: str) -> str | None:
    matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    return max(matches, key=len) if matches else None


@pytest.mark.parametrize("name", module_names())
def test_imports_run_one_way(name: str) -> None:
    imports = jobmagic_imports(name)
    layer = layer_of(name)
    if layer is not None:
        allowed = LAYERS[layer]
        wrong = sorted(
            item
            for item in imports
            if not any(item == prefix or item.startswith(prefix + ".") for prefix in allowed)
        )
        assert wrong == [], f"{name} ({layer} layer) imports {wrong}"
    if name.startswith(NEVER_IMPORT_MAGICS):
        assert "jobmagic.ipython.magics" not in imports, f"{name} imports the magics"


def test_the_import_checker_sees_late_imports() -> None:
    """The layer test is only as good as its parser: check it on modules known to import late."""
    assert "jobmagic.params" in jobmagic_imports(
        "jobmagic.ipython.magics"
    )  # `from jobmagic import params`
    assert any(
        item.startswith("jobmagic.config") for item in jobmagic_imports("jobmagic.ledger._schema")
    )
