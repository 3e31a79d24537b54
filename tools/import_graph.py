"""The runtime import graph of jobmagic, read from its source: cycles and late imports.

Imports inside functions count (they run); imports under ``if TYPE_CHECKING:`` do not.

>>> graph = read_graph(PACKAGE_ROOT)
>>> "jobmagic.api" in graph.edges
True
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "jobmagic"


@dataclass
class ImportGraph:
    """Edges between jobmagic's modules, and the imports written inside functions."""

    edges: dict[str, set[str]] = field(default_factory=dict)
    late: list[tuple[str, int, str]] = field(default_factory=list)  # (module, line, target)
    #: What each module imports when it is imported (module-level imports only): jobmagic's
    #: modules, and other packages by their top-level name.
    loads: dict[str, set[str]] = field(default_factory=dict)

    def closure(self, module: str) -> set[str]:
        """Every module (and outside package) importing ``module`` loads, itself included;
        a package's parents are loaded first, so they count too."""
        seen: set[str] = set()
        stack = [module]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(self.loads.get(name, ()))
            parent = name.rpartition(".")[0]
            if parent.startswith("jobmagic"):
                stack.append(parent)
        return seen


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement that runs, with whether it sits inside a function."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.stmt, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    yield from walk_one(sub, in_function)
                continue
            yield from walk_one(child, in_function)

    def walk_one(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.stmt, bool]]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
            return
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(node, ast.If) and _is_type_checking(node):
            for sub in node.orelse:
                yield from walk_one(sub, inner)
            return
        yield from walk(node, inner)

    yield from walk(tree, False)


def _outside(stmt: ast.stmt) -> set[str]:
    """The top-level names of the packages outside jobmagic that ``stmt`` imports."""
    if isinstance(stmt, ast.Import):
        names = [alias.name for alias in stmt.names]
    elif isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module:
        names = [stmt.module]
    else:
        names = []
    return {name.partition(".")[0] for name in names if not name.startswith("jobmagic")}


def lazy_names(tree: ast.AST) -> dict[str, str]:
    """A package's ``_LAZY = {"Name": "module", ...}``: names it imports on first use."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return {
                k.value: v.value
                for k, v in zip(node.value.keys, node.value.values, strict=True)
                if isinstance(k, ast.Constant)
                and isinstance(k.value, str)
                and isinstance(v, ast.Constant)
                and isinstance(v.value, str)
            }
    return {}


def _targets(
    stmt: ast.stmt,
    module: str,
    is_package: bool,
    known: set[str],
    lazy: dict[str, dict[str, str]] | None = None,
) -> set[str]:
    names: list[str] = []
    if isinstance(stmt, ast.Import):
        names = [alias.name for alias in stmt.names]
    elif isinstance(stmt, ast.ImportFrom):
        base = stmt.module or ""
        if stmt.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (stmt.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names = [base] + [f"{base}.{alias.name}" for alias in stmt.names]
        # A name a package gives lazily is an import of the module it comes from.
        provided = (lazy or {}).get(base, {})
        names += [provided[alias.name] for alias in stmt.names if alias.name in provided]
    if isinstance(stmt, ast.ImportFrom) and names:
        # `from pkg import mod` imports the module pkg.mod; pkg itself is its parent, which
        # Python has imported before anything inside it: not an edge of its own.
        base, submodules = names[0], [n for n in names[1:] if n in known]
        if submodules:
            names = submodules + [n for n in names[1:] if n not in known]
        names = [n if n in known else base for n in names]
        if provided and all(alias.name in provided for alias in stmt.names):
            names = [n for n in names if n != base] or [base]
    found = set()
    for name in names:
        # The longest known module that the name starts with: `from a.b import c` is a.b.c
        # when c is a module, else a.b.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.startswith("jobmagic") and name:
            found.add(name)
    return found


def read_graph(root: Path = PACKAGE_ROOT) -> ImportGraph:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    trees = {
        name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in files.items()
    }
    lazy = {
        name: lazy_names(tree) for name, tree in trees.items() if files[name].name == "__init__.py"
    }
    graph = ImportGraph({name: set() for name in files})
    for name, path in files.items():
        tree = trees[name]
        is_package = path.name == "__init__.py"
        loads = graph.loads.setdefault(name, set())
        for stmt, late in _imports(tree):
            targets = _targets(stmt, name, is_package, known, lazy) - {name}
            graph.edges[name] |= targets
            if late:
                graph.late.extend((name, stmt.lineno, t) for t in sorted(targets))
            else:
                loads |= targets | _outside(stmt)
    return graph


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm).

    >>> cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def main() -> int:
    graph = read_graph()
    for component in cycles(graph.edges):
        print(f"cycle of {len(component)}: {' '.join(component)}")
    print(f"late imports naming a jobmagic module: {len(graph.late)}")
    if "-v" in sys.argv:
        for module, line, target in graph.late:
            print(f"  {module}:{line} -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
