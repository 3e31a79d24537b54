"""``--search``: a cell body (or a Python dict) read as a search space. Pure.

Each param is one of three kinds, described neutrally (the search module builds Optuna's
distributions from them):

* :class:`Fixed`: a scalar, sent as written (a literal mapping is written as quoted JSON);
* :class:`Choice`: a list, one of its items' text (an item that is a list or mapping is its
  JSON), as with ``--grid``;
* :class:`Range`: a mapping ``{low: …, high: …}`` with optional ``log: true`` or ``step: …``;
  integers when the bounds (and step) are integers.

>>> space = parse_space_body("lr: {low: 1e-4, high: 0.1, log: true}\\nepochs: {low: 1, high: 5}"
...                          "\\nopt: [adam, sgd]\\nseed: 7")
>>> space["lr"], space["epochs"].is_int, space["opt"], space["seed"]
(Range(low=0.0001, high=0.1, log=True, step=None), True, Choice(values=('adam', 'sgd')), \
Fixed(value='7'))
>>> space_from_mapping({"lr": {"low": 0.1, "high": 0.01}})
Traceback (most recent call last):
...
jobmagic.errors.ParamsError: `lr`: low (0.1) is above high (0.01)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobmagic.errors import ParamsError
from jobmagic.params._body import Body
from jobmagic.params._grid import grid_axes
from jobmagic.params._names import is_valid_name, name_message, not_str_message
from jobmagic.params._tree import Flow, Map, Node, Scalar

__all__ = [
    "Choice",
    "Fixed",
    "Range",
    "SpaceEntry",
    "parse_space_body",
    "space_from_mapping",
]

_INT = re.compile(r"[+-]?[0-9]+")
_RANGE_KEYS = ("low", "high", "log", "step")


@dataclass(frozen=True)
class Fixed:
    """One value, sent with every trial."""

    value: str


@dataclass(frozen=True)
class Choice:
    """One of these values (their text, in order)."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """A number from ``low`` to ``high`` (both included), on a log scale or by ``step``."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    @property
    def is_int(self) -> bool:
        """Integers when the bounds (and the step, if any) are integers."""
        return all(isinstance(v, int) for v in (self.low, self.high, self.step) if v is not None)


SpaceEntry = Fixed | Choice | Range


# -- from a cell body ---------------------------------------------------------------------


def parse_space_body(
    text: str, namespace: Mapping[str, Any] | None = None, *, first_line: int = 1
) -> dict[str, SpaceEntry]:
    """Read a cell body for ``--search``: scalars fixed, lists choices, mappings ranges.

    Errors are :class:`ParamsError` with the line and column of the value at fault.

    >>> parse_space_body("lr: {low: 1, high: 0}", first_line=2)
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: line 2, column 5: `lr`: low (1) is above high (0)
    """
    body = Body(text, namespace, first_line=first_line)
    # The fast line reader keeps one-line mappings as text: the tree is wanted here.
    body.lines = False
    entries = body.entries()
    ranges = {name: value for name, value in entries if isinstance(value, Map | Flow)}
    # Lists and scalars are read as --grid reads them (placeholders, JSON items and all).
    axes = grid_axes(_Without(body, set(ranges)))
    space: dict[str, SpaceEntry] = {}
    for name, value in entries:
        if name in ranges:
            space[name] = _range_node(body, name, ranges[name])
        elif isinstance(value, Scalar):
            space[name] = Fixed(axes[name][0])
        else:
            space[name] = Choice(tuple(axes[name]))
    return space


class _Without(Body):
    """``body`` with some entries left out (the ranges, which grid_axes would send as JSON)."""

    def __init__(self, body: Body, skip: set[str]) -> None:
        self.__dict__.update(body.__dict__)
        self._skip = skip

    def entries(self) -> list[tuple[str, Node]]:
        return [(n, v) for n, v in super().entries() if n not in self._skip]


def _range_node(body: Body, name: str, node: Node) -> Range:
    if not isinstance(node, Map):
        raise ParamsError(
            f"`{name}`: a range is a mapping such as {{low: 0.001, high: 0.1}}",
            line=node.line,
            column=node.column,
        )
    fields: dict[str, Any] = {}
    for key, value in node.pairs():
        if not isinstance(key, Scalar) or key.value not in _RANGE_KEYS:
            shown = key.value if isinstance(key, Scalar) else "a list or mapping"
            raise ParamsError(
                f"`{name}`: a range takes low, high, and log or step, not {shown!r}; to send "
                "a mapping as it is, write it as quoted JSON text",
                line=key.line,
                column=key.column,
            )
        if not isinstance(value, Scalar):
            raise ParamsError(
                f"`{name}`: {key.value} must be a number",
                line=value.line,
                column=value.column,
            )
        text = body.fill(value.value)
        try:
            fields[key.value] = _bool(text) if key.value == "log" else _number(text)
        except ValueError as exc:
            raise ParamsError(
                f"`{name}`: {key.value} {exc}", line=value.line, column=value.column
            ) from None
    try:
        return _range(name, fields)
    except ParamsError as exc:
        raise ParamsError(str(exc), line=node.line, column=node.column) from None


def _number(text: str) -> float:
    if _INT.fullmatch(text.strip()):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"must be a number, not {text!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, not {text!r}")
    return number


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "yes", "on"):
        return True
    if word in ("false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {text!r}")


def _range(name: str, fields: Mapping[str, Any]) -> Range:
    """A checked Range from its fields (already numbers and booleans)."""
    missing = [key for key in ("low", "high") if key not in fields]
    if missing:
        raise ParamsError(f"`{name}`: a range needs {' and '.join(missing)}")
    low, high = fields["low"], fields["high"]
    log, step = bool(fields.get("log", False)), fields.get("step")
    if low > high:
        raise ParamsError(f"`{name}`: low ({low}) is above high ({high})")
    if log and step is not None:
        raise ParamsError(f"`{name}`: a range takes log or step, not both")
    if log and low <= 0:
        raise ParamsError(f"`{name}`: a log range needs low above 0, not {low}")
    if step is not None and step <= 0:
        raise ParamsError(f"`{name}`: step must be above 0, not {step}")
    if not (isinstance(low, int) and isinstance(high, int) and isinstance(step, int | None)):
        low, high = float(low), float(high)
        step = None if step is None else float(step)
    return Range(low, high, log, step)


# -- from Python ----------------------------------------------------------------------------


def space_from_mapping(space: Mapping[str, Any]) -> dict[str, SpaceEntry]:
    """Read a space given in Python: a str (or number) fixed, a list choices, a mapping with
    ``low``/``high`` (and ``log`` or ``step``) a range.

    Values that are none of these (Optuna's own distributions) are the caller's to read:
    :class:`TypeError` names the first one.

    >>> space_from_mapping({"epochs": {"low": 1, "high": 5, "step": 1}, "opt": ["a", 3]})
    {'epochs': Range(low=1, high=5, log=False, step=1), 'opt': Choice(values=('a', '3'))}
    """
    if not isinstance(space, Mapping):
        raise ParamsError(
            f"a search space is a mapping of param name to value, choices or range, "
            f"not {type(space).__name__}"
        )
    out: dict[str, SpaceEntry] = {}
    for name, value in space.items():
        if not isinstance(name, str) or not is_valid_name(name):
            raise ParamsError(name_message(str(name)))
        if isinstance(value, str):
            out[name] = Fixed(value)
        elif isinstance(value, bool) or value is None:
            raise ParamsError(not_str_message(name, value))
        elif isinstance(value, int | float):
            out[name] = Fixed(str(value))
        elif isinstance(value, Mapping):
            unknown = [key for key in value if key not in _RANGE_KEYS]
            if unknown:
                raise ParamsError(
                    f"`{name}`: a range takes low, high, and log or step, not {unknown[0]!r}; "
                    "to send a mapping as it is, give it as JSON text"
                )
            fields = dict(value)
            for key in ("low", "high", "step"):
                number = fields.get(key)
                if key in fields and (
                    isinstance(number, bool) or not isinstance(number, int | float)
                ):
                    raise ParamsError(f"`{name}`: {key} must be a number, not {number!r}")
            out[name] = _range(name, fields)
        elif isinstance(value, Sequence) and not isinstance(value, bytes):
            if not value:
                raise ParamsError(f"`{name}` is an empty list of choices; give at least one")
            out[name] = Choice(tuple(_choice_text(name, item) for item in value))
        else:
            raise TypeError(name)
    return out


def _choice_text(name: str, item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, int | float) and not isinstance(item, bool):
        return str(item)
    raise ParamsError(f"a choice of `{name}` must be a string or a number, not {item!r}")
