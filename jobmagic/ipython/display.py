"""How a shell shows run handles and sweep results: :func:`register` tells its display
formatters to use :mod:`jobmagic.ipython.views` (the live card, the sweep's board).

Registered by type name, so neither the domain nor the views are imported until something
is displayed: ``%load_ext`` stays light.

>>> from IPython.core.interactiveshell import InteractiveShell
>>> shell = InteractiveShell.instance()
>>> register(shell)
>>> shell.display_formatter.ipython_display_formatter.lookup_by_type(
...     "jobmagic.domain.handle.RunHandle") is _show
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["SHOWN_TYPES", "register"]

#: The objects shown through :mod:`jobmagic.ipython.views`: (module, class name).
SHOWN_TYPES = (("jobmagic.domain.handle", "RunHandle"), ("jobmagic.domain.sweeps", "SweepResult"))


def _show(obj: Any) -> None:
    # Deferred: the views (and the domain under them) load at the first display, not at load.
    from jobmagic.ipython.views import show

    show(obj)


def _bundle(obj: Any) -> dict[str, Any]:
    # Deferred: the views (and the domain under them) load at the first display, not at load.
    from jobmagic.ipython.views import bundle_for

    return bundle_for(obj)


def register(shell: Any) -> None:
    """Show run handles and sweep results in ``shell`` with their live views (idempotent).

    ``display(run)`` and a cell ending in ``run`` go through the shell's IPython display
    formatter (the live view, with a display id); the mime-bundle formatter gives the same
    view's bundle where only a bundle is asked for.
    """
    formatters = shell.display_formatter
    for module, name in SHOWN_TYPES:
        formatters.ipython_display_formatter.for_type_by_name(module, name, _show)
        formatters.mimebundle_formatter.for_type_by_name(module, name, _bundle)
