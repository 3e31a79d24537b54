"""Loading and unloading the IPython extension: one ``JobMagics`` and one completer per shell."""

from __future__ import annotations

import atexit
from typing import Any

from jobmagic.completion import install as install_completer
from jobmagic.completion import uninstall as uninstall_completer
from jobmagic.magics import JobMagics
from jobmagic.settings import JobMagic

__all__ = ["load", "unload"]

_REGISTRY_KEY = "JobMagics"


def load(shell: Any) -> None:
    if _REGISTRY_KEY in shell.magics_manager.registry:
        return  # %load_ext twice is a no-op, as with IPython's own extensions
    settings = JobMagic(parent=shell)
    shell.configurables.append(settings)
    magics = JobMagics(shell, settings)
    shell.register_magics(magics)
    install_completer(shell, lambda: magics.session)  # the session is made on first use
    # The kernel exiting must not leave a tracker thread or a sandbox behind.
    atexit.register(magics.close)


def unload(shell: Any) -> None:
    magics = shell.magics_manager.registry.pop(_REGISTRY_KEY, None)
    if magics is None:
        return
    magics.close()
    atexit.unregister(magics.close)
    uninstall_completer(shell)
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        for name in [n for n, fn in table.items() if getattr(fn, "__self__", None) is magics]:
            del table[name]
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, JobMagic)]
