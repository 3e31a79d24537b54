"""Names a package exports but imports only on first use (PEP 562 ``__getattr__``).

Why: ``%load_ext jobmagic`` must not pay for httpx, pandas, ipywidgets or the web stack.

>>> getattr_, dir_ = lazy_attributes("pkg", {"dumps": "json"}, {"x": 1})
>>> getattr_("dumps").__module__, dir_()
('json', ['dumps', 'x'])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from types import ModuleType
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, modules: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for ``modules`` (name -> module it is in).

    ``namespace`` is the module's ``globals()``, so ``dir()`` lists eager names as well; a
    name imported on first use is kept there, so later uses (``jobmagic.trigger`` in a
    loop) find it at once.
    """

    def __getattr__(name: str) -> Any:
        if name in modules:
            value = namespace[name] = getattr(importlib.import_module(modules[name]), name)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        # What tab completion offers: the exports, the package's submodules and the dunders,
        # not the names it imported for itself (``Any``, ``lazy_attributes``, ``np``).
        exported = namespace.get("__all__")
        if exported is None:
            return sorted(set(namespace) | set(modules))
        own = {
            name
            for name, value in namespace.items()
            if name.startswith("__")
            or (isinstance(value, ModuleType) and value.__name__.startswith(package + "."))
        }
        return sorted(own | set(exported) | set(modules))

    return __getattr__, __dir__
