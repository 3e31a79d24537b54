"""Loading and unloading the IPython extension: one ``JobMagics`` and one completer per shell."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.completer import CompletionContext, SimpleMatcherResult, context_matcher

from jobmagic.ipython.display import register
from jobmagic.ipython.magics import JobMagics
from jobmagic.ipython.settings import JobMagic

if TYPE_CHECKING:
    from jobmagic.domain.session import JobSession
    from jobmagic.ipython.completion import JobCompleter

__all__ = ["load", "unload"]

_REGISTRY_KEY = "JobMagics"

#: The identity of :meth:`jobmagic.ipython.completion.JobCompleter.matcher`, which the stand-in
#: below takes so that IPython orders it, and ``IPCompleter.disable_matchers`` names it, the
#: same way (tests/test_completion_and_help.py checks the two agree).
_MATCHER_ID = "jobmagic"
_MATCHER_PRIORITY = 1.0


class _DeferredCompleter:
    """Stands in the shell's completer for a :class:`~jobmagic.ipython.completion.JobCompleter`,
    made at the first TAB: importing the completion module (its regexes and dataclasses)
    would add about a sixth to what ``%load_ext`` costs, and a kernel may never complete
    a magic."""

    def __init__(self, session: Callable[[], JobSession]) -> None:
        self._session = session
        self._completer: JobCompleter | None = None

    @context_matcher(identifier=_MATCHER_ID, priority=_MATCHER_PRIORITY)
    def matcher(self, context: CompletionContext) -> SimpleMatcherResult:
        """What the JobCompleter's matcher answers (it never raises)."""
        if self._completer is None:
            from jobmagic.ipython.completion import JobCompleter

            self._completer = JobCompleter(self._session)
        return self._completer.matcher(context)


def load(shell: Any) -> None:
    if _REGISTRY_KEY in shell.magics_manager.registry:
        return  # %load_ext twice is a no-op, as with IPython's own extensions
    settings = JobMagic(parent=shell)
    shell.configurables.append(settings)
    magics = JobMagics(shell, settings)
    shell.register_magics(magics)
    register(shell)  # run handles and sweep results display as their live views
    # The session is made on first use, by a magic or by the completer.
    shell.Completer.custom_matchers.append(_DeferredCompleter(lambda: magics.session).matcher)
    # The kernel exiting must not leave a tracker thread or a sandbox behind.
    atexit.register(magics.close)


def unload(shell: Any) -> None:
    magics = shell.magics_manager.registry.pop(_REGISTRY_KEY, None)
    if magics is None:
        return
    magics.close()
    atexit.unregister(magics.close)
    from jobmagic.ipython.completion import uninstall as uninstall_completer

    uninstall_completer(shell)
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        for name in [n for n, fn in table.items() if getattr(fn, "__self__", None) is magics]:
            del table[name]
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, JobMagic)]
