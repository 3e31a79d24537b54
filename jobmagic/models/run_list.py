"""A list of runs that shows itself as a short table, the way a DataFrame does.

``sweep.wait()`` returns one JobRun per run; as a plain list, a notebook would print each
dataclass whole, a screen per run. :class:`RunList` is still a ``list`` (index it, loop
over it, compare it to a list), but its ``repr`` is a few head and tail rows and
``[N rows]``, and its ``_repr_html_`` a small table with the cards' status badges.

>>> from jobmagic.models import JobRun
>>> runs = RunList([JobRun("train-a", "FINISHED", exit_code=0), JobRun("train-b", "FAILED",
...     exit_code=3, error="ValueError: bad lr")])
>>> print(repr(runs))
   name     status    duration  exit  error
0  train-a  FINISHED  —         0
1  train-b  FAILED    —         3     ValueError: bad lr
[2 rows]
>>> runs[1].exit_code, isinstance(runs, list)
(3, True)
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, SupportsIndex, TypeVar, overload

from jobmagic.models.formatting import BADGE_CSS, format_duration, format_params, status_state
from jobmagic.models.jobs import JobRun
from jobmagic.models.text import view_text

__all__ = ["RunList"]

T = TypeVar("T")

#: Up to this many rows are all shown; a longer list shows its first and last half.
SHOWN_ROWS = 10
#: An error or params cell keeps this many characters, on one line.
CELL_CHARS = 60

_BADGE_SHAPE = (
    "display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 11px; "
    "font-weight: 600; line-height: 18px; white-space: nowrap"
)


class RunList(list[T]):
    """A ``list`` of runs (JobRuns, or handles with a ``.run``) shown as a short table; a
    slice of it is one too."""

    @overload
    def __getitem__(self, index: SupportsIndex) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> RunList[T]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> T | RunList[T]:
        if isinstance(index, slice):
            return RunList(super().__getitem__(index))
        return super().__getitem__(index)

    def _columns(self) -> list[str]:
        with_params = any(isinstance(getattr(item, "params", None), Mapping) for item in self)
        return ["name", "status", *(["params"] if with_params else []), "duration", "exit", "error"]

    def _rows(self) -> list[tuple[str, dict[str, str]] | None]:
        """(index, cells) of the rows shown; None where rows are left out."""
        count = len(self)
        half = SHOWN_ROWS // 2
        indexes: list[int | None] = (
            list(range(count))
            if count <= SHOWN_ROWS
            else [*range(half), None, *range(count - half, count)]
        )
        return [None if i is None else (str(i), _cells(self[i])) for i in indexes]

    def __repr__(self) -> str:
        if not self:
            return "[0 rows]"
        columns = self._columns()
        header = ["", *columns]
        table = [
            header,
            *(
                ["...", *("..." for _ in columns)]
                if row is None
                else [row[0], *(row[1].get(c, "") for c in columns)]
                for row in self._rows()
            ),
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in table
        ]
        return "\n".join([*lines, f"[{len(self)} rows]"])

    def _repr_html_(self) -> str:
        columns = self._columns()
        head = "".join(f"<th>{c}</th>" for c in ["", *columns])
        body = []
        for row in self._rows():
            if row is None:
                body.append("<tr>" + "<td>…</td>" * (len(columns) + 1) + "</tr>")
                continue
            index, cells = row
            tds = [f"<th>{index}</th>"]
            for column in columns:
                text = html.escape(cells.get(column, ""), quote=True)
                if column == "status" and text:
                    css = f"{BADGE_CSS[status_state(cells[column])]}; {_BADGE_SHAPE}"
                    text = f'<span style="{css}">{text}</span>'
                tds.append(f'<td style="white-space: nowrap; text-align: left">{text}</td>')
            body.append("<tr>" + "".join(tds) + "</tr>")
        return (
            '<table class="jobmagic-run-list">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p>[{len(self)} rows]</p>"
        )


def _cells(item: Any) -> dict[str, str]:
    """One row's cells, each cleaned and cut to one line (:func:`view_text`)."""
    run = item if isinstance(item, JobRun) else getattr(item, "run", None)
    if not isinstance(run, JobRun):
        return {"name": view_text(repr(item), limit=CELL_CHARS, one_line=True)}
    cells = {
        "name": view_text(run.name, limit=CELL_CHARS, one_line=True),
        "status": str(run.status),
        "duration": format_duration(run.duration_seconds),
        "exit": "" if run.exit_code is None else str(run.exit_code),
        "error": view_text(run.error or "", limit=CELL_CHARS, one_line=True),
    }
    params = getattr(item, "params", None)
    if isinstance(params, Mapping):
        cells["params"] = format_params(params, limit=CELL_CHARS)
    return cells
