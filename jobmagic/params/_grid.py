"""``--grid``: every param an axis of values, and the runs their cartesian product makes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from jobmagic.errors import ParamsError
from jobmagic.params._body import Body
from jobmagic.params._lines import NotFast, flow_items
from jobmagic.params._tree import Flow, Map, Node, Scalar

__all__ = ["expand_grid", "grid_axes", "grid_size"]


def grid_size(axes: Mapping[str, Sequence[str]]) -> int:
    """The number of runs :func:`expand_grid` would make (the product of the axis lengths).

    >>> grid_size({"lr": ["0.1", "0.01"], "seed": ["1", "2", "3"]})
    6
    """
    return math.prod(len(values) for values in axes.values())


def expand_grid(
    axes: Mapping[str, Sequence[str]], *, limit: int | None = None
) -> list[dict[str, str]]:
    """The cartesian product of the axes, one params dict per run, first key varying slowest.

    No axes give one run with no params; an empty axis gives no runs. With ``limit``, a grid
    of more runs raises :class:`~jobmagic.errors.ParamsError` before anything is built.

    >>> expand_grid({"a": ["1", "2"], "b": ["x"]})
    [{'a': '1', 'b': 'x'}, {'a': '2', 'b': 'x'}]
    """
    size = grid_size(axes)
    if limit is not None and size > limit:
        raise ParamsError(
            f"the grid makes {size} runs, more than the limit of {limit}; use fewer values"
        )
    names = list(axes)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(axes[name] for name in names))
    ]


def grid_axes(body: Body) -> dict[str, list[str]]:
    """Each param's axis: a list's items' text, or the one value of a scalar or mapping."""
    try:
        return _axes(body)
    except NotFast:
        body.lines = False
        return _axes(body)


def _axes(body: Body) -> dict[str, list[str]]:
    axes: dict[str, list[str]] = {}
    for name, value in body.entries():
        if isinstance(value, Scalar):
            axis = body.placeholders.list_axis(value.value, name)
            axes[name] = axis if axis is not None else [body.fill(value.value)]
        elif isinstance(value, Map) or (isinstance(value, Flow) and value.text[0] == "{"):
            axes[name] = [body.json(value, name)]
        else:
            items = flow_items(value) if isinstance(value, Flow) else value.children
            if not items:
                raise ParamsError(
                    f"`{name}` is an empty list, so the grid would have no runs; "
                    "give it at least one value",
                    line=value.line,
                    column=value.column,
                )
            axes[name] = [
                item if isinstance(item, str) else _grid_item(body, item, name) for item in items
            ]
    return axes


def _grid_item(body: Body, item: Node, param: str) -> str:
    if isinstance(item, Scalar):
        if item.implicit and item.value == "":
            # Point at the item's `-` (the parsers disagree on where "nothing" starts).
            dash = body.source.text.rfind("-", 0, item.offset + 1)
            if dash >= 0:
                line, column = body.source.position(dash)
            else:
                line, column = item.line, item.column
            raise ParamsError(
                f'an item of `{param}` is empty; give a value, or write `""` for an empty string',
                line=line,
                column=column,
            )
        return body.fill(item.value)
    return body.json(item, param)
