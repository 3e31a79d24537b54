"""The package tree is the architecture: layers that import one way, and no import cycle.

Two independent checks, as the layers issue asks:

* import-linter's contracts in ``pyproject.toml`` (layers, views without HTTP, the domain
  without a shell, the sandbox on its own), run here and by ``make test`` — and shown to fail
  when a module imports upwards;
* no strongly connected component in the runtime import graph read from the source
  (``tools/import_graph.py``: imports inside functions count, ``TYPE_CHECKING`` ones do not).

And two rules of the tree: a late import (inside a function) only defers a heavy load, and
no module grows past 600 lines.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tools.import_graph import PACKAGE_ROOT, ImportGraph, cycles, read_graph

ROOT = PACKAGE_ROOT.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

#: What a late import may defer, and why it is worth deferring: each costs ``%load_ext``
#: (20 ms budget) or ``import jobmagic`` in a script more than it saves to load it early.
HEAVY = {
    "pandas": "~0.4 s",
    "numpy": "~0.1 s",
    "ipywidgets": "~0.2 s",
    "httpx": "~0.1 s",
    "yaml": "~20 ms",
    "matplotlib": "~0.3 s",
    "optuna": "~0.23 s",
    "starlette": "the sandbox's web stack",
    "uvicorn": "the sandbox's web stack",
    "nbformat": "notebooks",
    "jupyter_server": "the server extension",
    "IPython": "~0.1 s, for `import jobmagic` in a script",
    "asyncio": "~15 ms, the engine's concurrent driver",
    "sqlite3": "the ledger",
    "jobmagic.models.jobs": "~10 ms: the API's dataclasses",
    "jobmagic.ipython.completion": "its regexes and dataclasses: a sixth of %load_ext",
}


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return read_graph()


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The contracts can fail: a handle (domain) that imports the magics (IPython layer)."""
    copy = tmp_path / "project"
    shutil.copytree(PACKAGE_ROOT, copy / "jobmagic", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    handle = copy / "jobmagic" / "domain" / "handle.py"
    handle.write_text(
        handle.read_text(encoding="utf-8") + "\n\ndef _up() -> None:\n"
        "    from jobmagic.ipython import magics  # noqa: F401\n",
        encoding="utf-8",
    )
    result = _lint_imports(copy)
    assert result.returncode != 0
    assert "jobmagic.domain.handle -> jobmagic.ipython.magics" in result.stdout


def test_there_is_no_import_cycle(graph: ImportGraph) -> None:
    assert cycles(graph.edges) == []


def test_the_cycle_check_sees_a_cycle_closed_by_a_late_import(graph: ImportGraph) -> None:
    """The same graph with one late import from the engine back to the magics has a cycle."""
    edges = {name: set(targets) for name, targets in graph.edges.items()}
    edges["jobmagic.domain.engine"].add("jobmagic.ipython.magics")
    found = cycles(edges)
    assert any({"jobmagic.domain.engine", "jobmagic.ipython.magics"} <= set(c) for c in found)


def test_late_imports_only_defer_heavy_loads(graph: ImportGraph) -> None:
    """An import inside a function is allowed only when importing its module loads
    something heavy that the importing module does not load already."""
    pointless = [
        f"{module}:{line} -> {target}"
        for module, line, target in graph.late
        if not (graph.closure(target) & HEAVY.keys()) - graph.closure(module)
    ]
    assert pointless == []


def test_the_graph_sees_late_and_lazy_imports(graph: ImportGraph) -> None:
    """The checks above are only as good as the parser."""
    late = {(module, target) for module, _line, target in graph.late}
    assert ("jobmagic.ipython.magics", "jobmagic.params") in late  # `from jobmagic import params`
    # `from jobmagic.models import JobRun` is an import of the module that defines it.
    assert "jobmagic.models.jobs" in graph.closure("jobmagic.domain.handle")
    assert "jobmagic.models.jobs" not in graph.closure("jobmagic.ipython.extension")


def test_the_top_level_is_small_and_no_module_is_long() -> None:
    top = sorted(path.name for path in PACKAGE_ROOT.glob("*.py"))
    assert len(top) <= 12, top
    long = {
        str(path.relative_to(ROOT)): n
        for path in PACKAGE_ROOT.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}


@pytest.mark.parametrize("old", sorted(importlib.import_module("jobmagic._moved").MOVED))
def test_a_moved_module_still_imports_from_its_old_path_with_a_warning(old: str) -> None:
    from jobmagic._moved import MOVED

    sys.modules.pop(old, None)
    parent, _, name = old.rpartition(".")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
    finally:
        # As a fresh process has it: the old name is not an attribute of the package.
        sys.modules.pop(old, None)
        if getattr(sys.modules[parent], name, None) is not None:
            delattr(sys.modules[parent], name)
    assert module is importlib.import_module(MOVED[old])
    assert any(
        issubclass(w.category, DeprecationWarning) and MOVED[old] in str(w.message) for w in caught
    )
