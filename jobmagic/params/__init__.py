"""Cell body → params: YAML read for the text the user wrote, ``{{ name }}`` filled in, grids.

The body of a ``%%trigger_job`` cell is a YAML mapping of param name → value. The Jobs API
takes only strings, and a user expects what they typed to arrive, so a scalar is sent as the
*text written*, not as YAML's guess at its type: ``lr: 0.10`` sends ``"0.10"``, ``flag: yes``
sends ``"yes"``, ``epochs: 010`` sends ``"010"``.

>>> parse_body("lr: 0.10\\nflag: yes\\nlayers: [64, 64]\\nname: 'Ada'")
{'lr': '0.10', 'flag': 'yes', 'layers': '[64,64]', 'name': 'Ada'}
>>> parse_body("lr: {{ lr }}\\nout: runs/{{ run }}/model", {"lr": 0.5, "run": "r7"})
{'lr': '0.5', 'out': 'runs/r7/model'}
>>> expand_grid(parse_grid_body("lr: [0.1, 0.01]\\nseed: [1, 2]"))
[{'lr': '0.1', 'seed': '1'}, {'lr': '0.1', 'seed': '2'}, {'lr': '0.01', 'seed': '1'}, \
{'lr': '0.01', 'seed': '2'}]

The rules:

* An empty, blank or comment-only body means no params.
* **Names** are the text written too (quoted or not) and must match :data:`NAME_PATTERN`.
* **Scalars.** A plain scalar is sent as written (YAML still drops a trailing ``# comment`` and
  folds a plain scalar spread over several lines into one line). A quoted scalar sends its
  value (``"Ada"`` → ``Ada``, ``'it''s'`` → ``it's``, escapes decoded); a block scalar
  (``|``, ``>``) sends its value. ``lr:`` with nothing after it is an error: write
  ``lr: ""`` to send an empty string.
* **Lists and mappings** are sent as compact JSON (``[1, 2]`` → ``[1,2]``). Inside them the
  JSON types follow YAML 1.2's JSON rules, not PyYAML's YAML 1.1 ones: a plain scalar written
  as a JSON number (``3``, ``-0.5``, ``1e-3``) is a number *kept exactly as written*
  (``0.10`` stays ``0.10``); ``true``/``false`` and ``null``/``~``/nothing (any case) are
  JSON's; everything else is a string, so ``[no, SE]`` → ``["no","SE"]`` and ``010`` →
  ``"010"``. Quoted scalars are always strings.
* **Grid** (:func:`parse_grid_body`): each list value is an axis whose values are its items'
  text (an item that is itself a list or mapping is that item's JSON); a scalar or a mapping
  is a one-value axis. :func:`expand_grid` makes the runs, first param varying slowest.
* **Placeholders.** ``{{ name }}`` (or ``{{name}}``) inside a value is replaced by
  ``str(namespace[name])`` *after* parsing, so no variable's value can break the YAML, and
  ``lr: {{ lr }}`` works unquoted. Only a Python identifier may go inside the braces. In grid
  mode, a value that is exactly one placeholder whose variable is a list, tuple or range
  becomes an axis of ``str(item)``. ``\\{{`` sends ``{{`` as it is. Placeholders in comments
  are ignored; in a param name they are an error.
* **Refused**, with an error naming the line and column: malformed YAML, a body that is not a
  mapping, several YAML documents, a duplicate name, a name the API would reject, an empty
  value, an unknown or malformed ``{{ }}``, anchors and aliases (``&a``, ``*a``), merge keys
  (``<<``), tags other than ``!!str``, and nesting deeper than 64 levels.
* **Size.** A body (or a magic line, or params from Python or a form) over
  :data:`MAX_BODY_BYTES` (256 KiB of UTF-8) is refused before anything reads it, and nesting
  past the limit is refused as soon as it is seen, so no body blocks the kernel for long.

The one-line form ``%trigger_job app lr=0.1`` goes through :func:`parse_kv_args` (or
:func:`parse_kv_grid`), params given from Python through :func:`validate_params`, a form's
fields through :func:`parse_fields`.

Everything here is a pure function of its arguments (no I/O, no IPython), deterministic, and
:class:`ParamsError` is the only exception raised for bad input. YAML is read by libyaml when
PyYAML has it (a 1000-line body takes a few ms); PyYAML's pure-Python parser explains errors.

The package's private modules each do one job: ``_limits`` (size and depth, before YAML),
``_source`` (positions and quoting the user's text), ``_placeholders`` (``{{ }}`` set aside
and filled in), ``_compose`` (YAML → tree), ``_tree`` (the nodes, built from events),
``_messages`` (YAML errors → one sentence, a table), ``_json`` (values → JSON), ``_body``
(names and entries), ``_grid``, ``_space`` (``--search``: fixed values, choices, ranges) and
``_kv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobmagic._lazy import lazy_attributes
from jobmagic.errors import ParamsError
from jobmagic.params._body import Body, flat_params
from jobmagic.params._fields import check_fields_filled
from jobmagic.params._grid import expand_grid, grid_axes, grid_size
from jobmagic.params._kv import parse_kv_args, parse_kv_grid
from jobmagic.params._limits import MAX_BODY_BYTES, check_size, check_text_size, utf8_size
from jobmagic.params._names import (
    NAME_PATTERN,
    NAME_RULE,
    is_valid_name,
    name_message,
    not_str_message,
)
from jobmagic.params._source import SURROGATE_RE, short
from jobmagic.params._space import (
    Choice,
    Fixed,
    Range,
    SpaceEntry,
    parse_space_body,
    space_from_mapping,
)

__all__ = [
    "MAX_BODY_BYTES",
    "NAME_PATTERN",
    "NAME_RULE",
    "Choice",
    "Fixed",
    "ParamsError",
    "Range",
    "SpaceEntry",
    "check_text_size",
    "expand_grid",
    "grid_size",
    "is_valid_name",
    "parse_body",
    "parse_fields",
    "parse_grid_body",
    "parse_kv_args",
    "parse_kv_grid",
    "parse_space_body",
    "space_from_mapping",
    "validate_params",
]


def parse_body(
    text: str, namespace: Mapping[str, Any] | None = None, *, first_line: int = 1
) -> dict[str, str]:
    """Turn a ``%%trigger_job`` cell body into the params to send.

    ``namespace`` fills ``{{ name }}`` placeholders (the notebook's variables). Lists and
    mappings become compact JSON. Raises :class:`ParamsError` with ``line``/``column``;
    ``first_line`` is the number of the body's first line (2 in a cell, under the magic).

    >>> parse_body("lr: 0.10  # a comment\\nepochs: 010\\nnote: 'it''s'")
    {'lr': '0.10', 'epochs': '010', 'note': "it's"}
    >>> parse_body("cfg: {depth: 3, act: relu, p: 0.10}")
    {'cfg': '{"depth":3,"act":"relu","p":0.10}'}
    """
    return flat_params(Body(text, namespace, first_line=first_line))


def parse_grid_body(
    text: str, namespace: Mapping[str, Any] | None = None, *, first_line: int = 1
) -> dict[str, list[str]]:
    """Read a cell body for ``--grid``: every param becomes an axis (a list of values).

    A list value is an axis of its items' text; a scalar or mapping is a one-value axis. A
    value that is only ``{{ name }}`` whose variable is a list, tuple or range becomes an axis
    of ``str(item)``. Pass the result to :func:`expand_grid`.

    >>> parse_grid_body("lr: [0.1, 1e-3]\\nopt: adam\\nlrs2: {{ more }}", {"more": (1, 2)})
    {'lr': ['0.1', '1e-3'], 'opt': ['adam'], 'lrs2': ['1', '2']}
    """
    return grid_axes(Body(text, namespace, first_line=first_line))


def validate_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Check params given from Python (``trigger(params=...)``) and return them as a new dict.

    Names must follow the API's rule and values must be strings: the API takes only strings,
    so ``3`` or ``True`` are refused rather than guessed at.

    >>> validate_params({"lr": "0.1"})
    {'lr': '0.1'}
    >>> validate_params({"epochs": 3})
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: `epochs` is an int (3), but param values must be \
strings; pass "3" (str(...)) instead
    """
    if not isinstance(params, Mapping):
        raise ParamsError(
            f"params must be a mapping of param name to string, e.g. {{'lr': '0.01'}}, "
            f"not {type(params).__name__}"
        )
    check_size(
        sum(utf8_size(text) for item in params.items() for text in item if isinstance(text, str)),
        "the params' text",
    )
    out: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise ParamsError(
                f"param names must be strings, not {type(name).__name__} ({short(repr(name))})"
            )
        if not is_valid_name(name):
            raise ParamsError(name_message(name))
        if not isinstance(value, str):
            raise ParamsError(not_str_message(name, value))
        if SURROGATE_RE.search(value):
            raise ParamsError(f"the value of `{name}` holds a lone surrogate; it is not text")
        out[name] = str(value)
    return out


def parse_fields(
    values: Mapping[str, str], defaults: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """Check a form's fields as :func:`validate_params` does, and refuse a blank one as a
    cell body refuses ``name:`` with nothing after it (unless ``defaults``, what the form was
    filled with, had it blank too).

    >>> parse_fields({"lr": "0.1"})
    {'lr': '0.1'}
    >>> parse_fields({"epochs": ""})
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: `epochs` has no value; give one, or write `epochs: ""` in a \
`%%trigger_job` cell body to send an empty string
    """
    check_fields_filled(values, defaults)
    return validate_params(values)


# Tab completion offers the public names, not the helpers imported from the private modules.
__getattr__, __dir__ = lazy_attributes(__name__, {}, globals())
