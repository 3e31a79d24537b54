"""What a failed, timed-out or interrupted ``--wait`` advises: it names the user's own
``-o`` variable (``bad.logs()``), or, without one, an expression that reaches the run anew
(``jobmagic.attach('train-x', 'sandbox:demo:train')``) — never a variable the user does not
have — and only the views the cell shows (the run's card, the sweep's board).

>>> advice = WaitAdvice(variable="bad")
>>> advice.reach(["train-x"], 0, single=True)
'bad'
>>> WaitAdvice(variable="sweep").reach(["train-x", "train-y"], 1, single=False)
'sweep[1]'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobmagic.models import RunStatus
from jobmagic.models.text import view_text

if TYPE_CHECKING:
    from jobmagic.domain.handle import RunHandle
    from jobmagic.models import JobRun

__all__ = ["WaitAdvice", "attach_expression"]


def attach_expression(handle: RunHandle | str) -> str:
    """Python that gives back a run's handle when no variable holds it.

    >>> attach_expression("train-x")
    "jobmagic.attach('train-x')"
    """
    if isinstance(handle, str):
        return f"jobmagic.attach({handle!r})"
    name = view_text(handle.name, one_line=True)
    if handle.application_fqn:
        return f"jobmagic.attach({name!r}, {view_text(handle.application_fqn, one_line=True)!r})"
    if handle.application_id:
        return f"jobmagic.attach({name!r}, application_id={handle.application_id!r})"
    return f"jobmagic.attach({name!r})"


@dataclass(frozen=True)
class WaitAdvice:
    """How a ``--wait`` that did not end well tells the user to reach its runs.

    ``variable`` is the ``-o`` name (None without ``-o``); ``card`` says the run's card
    (its Logs panel, its Terminate button) is shown, ``board`` that the sweep's board (Open
    card, Terminate all) is.
    """

    variable: str | None = None
    card: bool = False
    board: bool = False

    def reach(self, handles: Sequence[RunHandle | str], index: int, *, single: bool) -> str:
        """The expression for run ``index``: ``bad``, ``sweep[2]``, or ``jobmagic.attach(…)``."""
        if self.variable:
            return self.variable if single else f"{self.variable}[{index}]"
        return attach_expression(handles[index])

    def subject(self, handles: Sequence[RunHandle], *, single: bool) -> str:
        """What ``.wait()`` and ``.terminate()`` are called on after a timeout; "" for a
        sweep no variable holds (the timeout then states the fact alone)."""
        if self.variable:
            return self.variable
        return attach_expression(handles[0]) if single and handles else ""

    def logs(self, handles: Sequence[RunHandle], runs: Sequence[JobRun], *, single: bool) -> str:
        """Where to read the logs of the runs that ended without finishing ("" if none)."""
        failed = [i for i, run in enumerate(runs) if run.status != RunStatus.FINISHED]
        if not failed:
            return ""
        first = failed[0]
        where = f"{self.reach(handles, first, single=single)}.logs()"
        if single:
            panel = " or the card's Logs panel" if self.card else ""
            return f"See its logs with {where}{panel}."
        name = view_text(handles[first].name, one_line=True)
        board = " (any run's: Open card on the board)" if self.board else ""
        return f"See the logs of {name} with {where}{board}."

    def stop(self, handles: Sequence[RunHandle], *, single: bool) -> str:
        """How to stop the runs a Ctrl-C left going."""
        if single:
            button = " or the card's Terminate button" if self.card else ""
            where = f"{self.reach(handles, 0, single=True)}.terminate()"
            return f"Terminate it with {where}{button}, or add --cancel-on-interrupt next time."
        ways = []
        if self.variable:
            ways.append(f"{self.variable}.terminate()")
        if self.board:
            ways.append("the board's Terminate all")
        if not ways:
            return "Keep the sweep with -o NAME to stop it, or add --cancel-on-interrupt next time."
        return f"Stop them with {' or '.join(ways)}, or add --cancel-on-interrupt next time."
