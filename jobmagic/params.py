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
:func:`parse_kv_grid`), params given from Python through :func:`validate_params`.

Everything here is a pure function of its arguments (no I/O, no IPython), deterministic, and
:class:`ParamsError` is the only exception raised for bad input. YAML is read by libyaml when
PyYAML has it (a 1000-line body takes a few ms); PyYAML's pure-Python parser explains errors.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import yaml

from jobmagic._body_limits import MAX_BODY_BYTES, MAX_DEPTH, check_size, deep_flow_offset, utf8_size
from jobmagic.errors import ParamsError
from jobmagic.models import PARAM_NAME_PATTERN

__all__ = [
    "MAX_BODY_BYTES",
    "NAME_PATTERN",
    "NAME_RULE",
    "ParamsError",
    "check_text_size",
    "expand_grid",
    "grid_size",
    "is_valid_name",
    "parse_body",
    "parse_grid_body",
    "parse_kv_args",
    "parse_kv_grid",
    "validate_params",
]

#: The API's rule for param names (always applied with ``fullmatch``, so ``"lr\n"`` fails).
NAME_PATTERN: Final = PARAM_NAME_PATTERN

#: :data:`NAME_PATTERN` in words, for error messages.
NAME_RULE: Final = (
    "names are 2 to 32 characters: lowercase letters, digits, `-` and `_`, "
    "starting with a letter and ending with a letter or digit"
)

_MAX_DEPTH: Final = MAX_DEPTH
# libyaml when PyYAML was built with it (PyPI's wheels are); see _Body._events.
_FAST_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", None)
_STR_TAG: Final = "tag:yaml.org,2002:str"
# json.dumps(text, ensure_ascii=False) without its per-call set-up (20x faster: a value may
# hold tens of thousands of strings).
_json_string: Final = json.encoder.encode_basestring
# The most characters the pure-Python parser re-reads to explain an error (~0.1 s).
_SLOW_PARSE_CHARS: Final = 8 * 1024
_DEPTH_MESSAGE: Final = f"the value is nested more than {_MAX_DEPTH} levels deep; flatten it"

# A placeholder (``{{`` to the first ``}}``) stays on one line; see _placeholder_spans.
_PLACEHOLDER_OPEN_RE: Final = re.compile(r"\\\{\{|\{\{")
_ESCAPE: Final = "\\{{"
# The line breaks PyYAML knows (YAML 1.1).
_BREAK_RE: Final = re.compile("[\n\r\x85\u2028\u2029]")
_LINE_BREAK_RE: Final = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_HEX_ESCAPE_RE: Final = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))")
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_END_LINE_RE: Final = re.compile(r"^\.\.\.[ \t]*(?:#.*)?$", re.MULTILINE)
_JSON_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_TRUE: Final = frozenset({"true", "True", "TRUE"})
_JSON_FALSE: Final = frozenset({"false", "False", "FALSE"})
_JSON_NULL: Final = frozenset({"", "~", "null", "Null", "NULL"})

# Sentinels are built from private-use characters the body does not contain.
_PRIVATE_USE: Final = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_BASE: Final = 64


# --- public API --------------------------------------------------------------------------


def is_valid_name(name: object) -> bool:
    """True if ``name`` is a param name the API accepts.

    >>> is_valid_name("learning-rate"), is_valid_name("LR"), is_valid_name("x")
    (True, False, False)
    """
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def check_text_size(text: str, what: str = "the cell body") -> None:
    """Refuse ``text`` over :data:`MAX_BODY_BYTES` of UTF-8 before anything parses it.

    Every entry point here calls it; the magic also calls it on its line, which it splits
    before the params are read.

    >>> check_text_size("lr: 0.1")
    >>> check_text_size("x" * 300_000, "the magic line")
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: the magic line is 300,000 bytes of UTF-8, over the limit \
of 256 KiB (262,144 bytes); put large data in a file and pass its path or URL as a param
    """
    if isinstance(text, str):
        check_size(utf8_size(text), what)


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
    return _flat_params(_Body(text, namespace, first_line=first_line))


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
    return _grid_axes(_Body(text, namespace, first_line=first_line))


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
    of more runs raises :class:`ParamsError` before anything is built.

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
                f"param names must be strings, not {type(name).__name__} ({_short(repr(name))})"
            )
        if not is_valid_name(name):
            raise ParamsError(_name_message(name))
        if not isinstance(value, str):
            raise ParamsError(_not_str_message(name, value))
        if _SURROGATE_RE.search(value):
            raise ParamsError(f"the value of `{name}` holds a lone surrogate; it is not text")
        out[name] = str(value)
    return out


def parse_kv_args(tokens: Iterable[str]) -> dict[str, str]:
    """Read ``name=value`` tokens (``%trigger_job app lr=0.1 epochs=3``) as written.

    The value is everything after the first ``=``, so ``k=a=b`` sends ``"a=b"``.

    >>> parse_kv_args(["lr=0.10", "expr=a=b"])
    {'lr': '0.10', 'expr': 'a=b'}
    """
    tokens = list(tokens)
    check_size(
        sum(utf8_size(token) for token in tokens if isinstance(token, str)), "the params' text"
    )
    params: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep:
            raise ParamsError(f"`{_short(token)}` is not a `name=value` pair; write e.g. `lr=0.01`")
        if not name:
            raise ParamsError(
                f"`{_short(token)}` has no param name before `=`; write e.g. `lr=0.01`"
            )
        if not is_valid_name(name):
            raise ParamsError(_name_message(name))
        if name in params:
            raise ParamsError(f"`{name}` is given twice; keep one of them")
        if not value:
            raise ParamsError(
                f"`{name}=` has no value; write `{name}=VALUE`, or use the cell form "
                f'`{name}: ""` to send an empty string'
            )
        if _SURROGATE_RE.search(value):
            raise ParamsError(f"the value of `{name}` holds a lone surrogate; it is not text")
        params[name] = value
    return params


def parse_kv_grid(tokens: Iterable[str]) -> dict[str, list[str]]:
    """Read ``name=value`` tokens for ``--grid``: a ``[a, b]`` value is an axis.

    The items of ``[...]`` are read like a YAML flow list, each item's text as written (the
    same as a list in a ``--grid`` cell body); any other value is a one-value axis. There are
    no ``{{ }}`` placeholders here: IPython has already expanded the line.

    >>> parse_kv_grid(["lr=[0.1, 1e-3]", "opt=adam"])
    {'lr': ['0.1', '1e-3'], 'opt': ['adam']}
    """
    axes: dict[str, list[str]] = {}
    for name, value in parse_kv_args(tokens).items():
        if not (value.startswith("[") and value.endswith("]")):
            axes[name] = [value]
            continue
        prefix = f"{name}: "
        try:
            axes[name] = _grid_axes(_Body(prefix + value, None, templating=False))[name]
        except ParamsError as err:
            message = str(err)
            where = ""
            if err.line is not None and err.column is not None:
                message = message.removeprefix(f"line {err.line}, column {err.column}: ")
                where = f" at character {max(err.column - len(prefix), 1)}"
            raise ParamsError(f"`{name}={_short(value)}`{where}: {message}") from None
    return axes


# --- the parsed tree: just what YAML read, with positions --------------------------------


@dataclass(slots=True)
class _Scalar:
    value: str  # YAML's value of the scalar, with placeholder sentinels still in
    implicit: bool  # plain and untagged: YAML would guess its type, and "" means "nothing"
    line: int
    column: int
    offset: int  # of its start in the body


@dataclass(slots=True)
class _Seq:
    line: int
    column: int
    children: list[_Node] = field(default_factory=list)


@dataclass(slots=True)
class _Map:
    line: int
    column: int
    children: list[_Node] = field(default_factory=list)  # key, value, key, value, ...

    def pairs(self) -> Iterator[tuple[_Node, _Node]]:
        return zip(self.children[0::2], self.children[1::2], strict=True)


_Node = _Scalar | _Seq | _Map


@dataclass(frozen=True, slots=True)
class _Mark:
    """Where PyYAML would point: 0-based, like ``yaml.Mark``."""

    index: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class _Placeholder:
    offset: int  # where it starts in the body
    text: str  # as written: "{{ lr }}", or the escape "\{{"

    @property
    def name(self) -> str:
        return self.text[2:-2].strip()


class _Body:
    """One cell body being read: the YAML tree, the placeholders and the namespace.

    Placeholders are set aside before YAML sees the text: each ``{{ ... }}`` (and each
    ``\\{{``) is swapped for a *sentinel of the same length* made of private-use characters
    the body does not contain. A sentinel is a plain YAML scalar, so ``lr: {{ lr }}`` parses,
    and because lengths match, every mark PyYAML reports still points at the user's text.
    """

    def __init__(
        self,
        text: str,
        namespace: Mapping[str, Any] | None,
        *,
        templating: bool = True,
        fast: bool = True,
        first_line: int = 1,
    ) -> None:
        if not isinstance(text, str):
            raise ParamsError(f"the cell body must be text, not {type(text).__name__}")
        check_text_size(text)
        # A leading byte-order mark means nothing in a cell, and the two parsers count it
        # differently; without it, their marks agree.
        text = text.removeprefix("\ufeff")
        self.fast = fast
        # Error lines count as the user sees them: in a cell, the body starts on line 2.
        self.first_line = first_line
        self.source = text
        self.namespace = namespace
        self._line_starts: list[int] | None = None
        self.placeholders: list[_Placeholder] = []
        self.yaml_text = text
        self._sentinel_re: re.Pattern[str] | None = None
        self._digit_value: dict[str, int] = {}
        if templating and "{{" in text:
            self._set_aside_placeholders()

    # --- placeholders ------------------------------------------------------------------

    def _set_aside_placeholders(self) -> None:
        text = self.source
        matches = _placeholder_spans(text)
        if not matches:
            return
        start, pad, *digits = _free_characters(text, _BASE + 2)
        self._digit_value = {ch: i for i, ch in enumerate(digits)}
        pieces: list[str] = []
        last = 0
        for index, (begin, end) in enumerate(matches):
            written = text[begin:end]
            encoded = _encode(index, digits)
            if 1 + len(encoded) > len(written):
                raise ParamsError("the cell body has too many `{{ }}` placeholders")
            pieces.append(text[last:begin])
            pieces.append(start + encoded + pad * (len(written) - 1 - len(encoded)))
            self.placeholders.append(_Placeholder(begin, written))
            last = end
        pieces.append(text[last:])
        self.yaml_text = "".join(pieces)
        digit_class = "".join(re.escape(ch) for ch in digits)
        self._sentinel_re = re.compile(f"{re.escape(start)}([{digit_class}]+){re.escape(pad)}*")

    def _placeholders_in(self, value: str) -> list[_Placeholder]:
        if self._sentinel_re is None:
            return []
        return [self._decode(m) for m in self._sentinel_re.finditer(value)]

    def _decode(self, match: re.Match[str]) -> _Placeholder:
        index = 0
        for ch in match.group(1):
            index = index * _BASE + self._digit_value[ch]
        return self.placeholders[index]

    def fill(self, value: str) -> str:
        """``value`` with every placeholder replaced by its variable's text."""
        if self._sentinel_re is None or not self._sentinel_re.search(value):
            return value
        return self._sentinel_re.sub(lambda m: self._fill_one(self._decode(m)), value)

    def _fill_one(self, placeholder: _Placeholder) -> str:
        if placeholder.text == _ESCAPE:
            return "{{"
        value = self._lookup(placeholder)
        try:
            text = str(value)
        except Exception as err:  # a user object's __str__ may raise anything
            raise self._error_at(
                placeholder,
                f"str({placeholder.name}) failed ({type(err).__name__}) for "
                f"`{placeholder.text}`; convert it in a Python cell first",
            ) from None
        if not isinstance(text, str) or _SURROGATE_RE.search(text):
            raise self._error_at(
                placeholder,
                f"`{placeholder.name}` does not turn into valid text for `{placeholder.text}`",
            )
        return text

    def _lookup(self, placeholder: _Placeholder) -> Any:
        name = placeholder.name
        if not name.isidentifier():
            raise self._error_at(
                placeholder,
                f"only a variable name can go inside `{{{{ }}}}`, not `{_short(name)}`; compute "
                f"the value in a Python cell first, or write `\\{{{{` to send the braces as "
                "they are",
            )
        namespace = self.namespace if self.namespace is not None else {}
        if name not in namespace:
            where = "in the notebook" if self.namespace is not None else "(no namespace given)"
            raise self._error_at(
                placeholder,
                f"no variable `{name}` {where} for `{placeholder.text}`; define it, or write "
                f"`\\{placeholder.text}` to send the braces as they are",
            )
        return namespace[name]

    def list_axis(self, value: str, param: str) -> list[str] | None:
        """The axis for a value that is exactly one placeholder of a list/tuple/range."""
        if self._sentinel_re is None:
            return None
        match = self._sentinel_re.fullmatch(value)
        if match is None:
            return None
        placeholder = self._decode(match)
        if placeholder.text == _ESCAPE:
            return None
        variable = self._lookup(placeholder)
        if not isinstance(variable, (list, tuple, range)):
            return None
        if len(variable) == 0:
            raise self._error_at(
                placeholder,
                f"`{placeholder.name}` is an empty {type(variable).__name__}, so the grid would "
                f"have no runs for `{param}`; give it at least one value",
            )
        axis = []
        for item in variable:
            try:
                text = str(item)
            except Exception as err:  # a user object's __str__ may raise anything
                raise self._error_at(
                    placeholder,
                    f"str() of an item of `{placeholder.name}` failed ({type(err).__name__}); "
                    "convert the items in a Python cell first",
                ) from None
            if not isinstance(text, str) or _SURROGATE_RE.search(text):
                raise self._error_at(
                    placeholder, f"an item of `{placeholder.name}` does not turn into valid text"
                )
            axis.append(text)
        return axis

    # --- positions ---------------------------------------------------------------------

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset, counted the way PyYAML counts."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in _LINE_BREAK_RE.finditer(self.source)]
        row = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[row]
        # PyYAML's reader does not advance the column over a byte-order mark.
        column = offset - start - self.source.count("\ufeff", start, offset) + 1
        return row + self.first_line, column

    def _error_at(self, placeholder: _Placeholder, message: str) -> ParamsError:
        line, column = self.position(placeholder.offset)
        return ParamsError(message, line=line, column=column)

    def _mark_error(self, mark: Any, message: str) -> ParamsError:
        if mark is None:
            return ParamsError(message)
        return ParamsError(message, line=mark.line + self.first_line, column=mark.column + 1)

    def _written_at(self, offset: int, stop: str = " \t\r\n\x85\u2028\u2029,[]{}") -> str:
        """The token the user wrote at ``offset`` (for messages), up to ``stop``."""
        end = offset
        while end < len(self.source) and self.source[end] not in stop:
            end += 1
        return _short(self.source[offset:end])

    # --- reading the YAML --------------------------------------------------------------

    def compose(self) -> _Node | None:
        """The document's tree, built from PyYAML's events as they are read.

        Events rather than ``yaml.compose``: they say whether a tag or anchor was written, and
        building the tree with an explicit stack keeps deep nesting from recursing.

        libyaml is the fast path (pure-Python PyYAML needs ~70 ms for 1000 lines of lists).
        Whenever it fails, the pure-Python parser reads the body again: it is the reference
        whose error messages :meth:`_yaml_error` knows, and it accepts a few things libyaml
        does not (JSON-style surrogate-pair escapes).

        Both streams are read one event at a time and stop at the first collection nested
        too deep: the pure-Python scanner is quadratic in the depth of brackets on a line,
        and libyaml gives up past 1000 levels, so deep nesting must be refused before either
        reads it all. A linear bracket count guards the pure-Python parser for that reason.

        A failure read again in full would take seconds in a big body, so the reference
        starts over at the last top-level name libyaml read before failing (the lines above
        it blanked, so lines and columns still match). A failing value too long even for that
        is explained from libyaml's own error.
        """
        fast_error: yaml.MarkedYAMLError | None = None
        fast_events: list[yaml.Event] = []
        if self.fast and _FAST_LOADER is not None:
            try:
                return self._build(_read_events(_FAST_LOADER(self.yaml_text), fast_events))
            except ParamsError:
                raise
            except yaml.MarkedYAMLError as err:
                fast_error = err
            except Exception:  # only the fast path failed: the reference decides
                pass
        deep = deep_flow_offset(self.yaml_text, _MAX_DEPTH)
        if deep is not None:
            line, column = self.position(deep)
            raise ParamsError(_DEPTH_MESSAGE, line=line, column=column)
        start = 0
        # Surrogate-pair escapes are where the parsers disagree: only the reference knows.
        if fast_error is not None and "Unicode character escape" not in (fast_error.problem or ""):
            start = _restart_offset(fast_events, self.yaml_text)
            if len(self.yaml_text) - start > _SLOW_PARSE_CHARS:
                raise self._yaml_error(self._reference_style(fast_error)) from None
        if start:
            self._reference_events(start)  # raises, unless the parsers disagree on that part
        return self._build(self._reference_events(0))

    def _build(self, events: Iterable[yaml.Event]) -> _Node | None:
        """The tree of ``events``; refused at the first collection nested too deep.

        The hot loop of every parse (one pass per event, ~20,000 in 64 KiB of lists): event
        kinds are told apart by exact type, the commonest first.
        """
        root: _Node | None = None
        stack: list[_Seq | _Map] = []
        documents = 0
        first_line = self.first_line
        for event in events:
            kind = type(event)
            node: _Node
            mark: Any = event.start_mark  # both parsers always set it
            if kind is yaml.ScalarEvent:
                scalar = cast(yaml.ScalarEvent, event)
                if scalar.anchor is not None or scalar.tag is not None:
                    self._check_node_event(scalar)
                node = self._scalar(scalar)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                # The top-level mapping counts too, so a value may nest _MAX_DEPTH levels.
                if len(stack) > _MAX_DEPTH:
                    raise self._mark_error(mark, _DEPTH_MESSAGE)
                start = cast(yaml.CollectionStartEvent, event)
                if start.anchor is not None or start.tag is not None:
                    self._check_node_event(start)
                cls = _Map if kind is yaml.MappingStartEvent else _Seq
                stack.append(cls(mark.line + first_line, mark.column + 1))
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                node = stack.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self._mark_error(
                        mark,
                        "the cell body holds more than one YAML document; remove the "
                        "`---` line and put all params in one mapping",
                    )
                continue
            elif kind is yaml.AliasEvent:
                written = self._written_at(mark.index)
                raise self._mark_error(
                    mark,
                    f"`{written}` is a YAML alias, which a cell body cannot use; write the "
                    f'value out, or quote it (`"{written}"`) if it is text',
                )
            else:
                continue
            if stack:
                stack[-1].children.append(node)
            else:
                root = node
        return root

    def _reference_events(self, start: int) -> list[yaml.Event]:
        """The pure-Python parser's events for the body from ``start`` (a line's start) on."""
        blanked = _row_column(self.yaml_text, start)[0]
        shift = start - blanked  # from an index in the text read to one in the body
        text = "\n" * blanked + self.yaml_text[start:] if start else self.yaml_text
        try:
            return self._depth_checked(yaml.parse(text, Loader=yaml.SafeLoader), [])
        except yaml.MarkedYAMLError as err:
            if shift:
                err.problem_mark = _shifted(err.problem_mark, shift)
                err.context_mark = _shifted(err.context_mark, shift)
            raise self._yaml_error(err) from None
        except yaml.reader.ReaderError as err:
            line, column = self.position(err.position + shift)
            code = err.character if isinstance(err.character, int) else 0
            raise ParamsError(
                f"the cell body contains the control character U+{code:04X}, which YAML does "
                "not allow; delete it",
                line=line,
                column=column,
            ) from None
        except yaml.YAMLError:
            raise ParamsError(
                "the cell body is not valid YAML; check the indentation, the `name: value` "
                "pairs and the quotes"
            ) from None

    def _reference_style(self, err: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
        """libyaml's error worded, and its marks counted, as the pure-Python parser does."""
        problem = err.problem or ""
        problem = _LIBYAML_PROBLEMS.get(problem, problem.removeprefix("did not find "))
        if err.problem_mark is not None and err.problem_mark.index >= len(self.yaml_text):
            problem += ", but got '<stream end>'"
        return yaml.MarkedYAMLError(
            err.context,
            self._recounted(err.context_mark),
            problem,
            self._recounted(err.problem_mark),
        )

    def _recounted(self, mark: Any) -> Any:
        # libyaml puts the end of the body on a line of its own past the last one.
        if mark is None:
            return None
        row, column = _row_column(self.source, min(mark.index, len(self.source)))
        return yaml.Mark(mark.name, mark.index, row, column, None, 0)

    def _depth_checked(
        self, events: Iterable[yaml.Event], out: list[yaml.Event]
    ) -> list[yaml.Event]:
        """The events, added to ``out`` and refused at the first collection too deep."""
        depth = 0  # open collections, the top-level mapping included
        for event in events:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                # The top-level mapping counts too, so a value may nest _MAX_DEPTH levels.
                if depth > _MAX_DEPTH:
                    raise self._mark_error(event.start_mark, _DEPTH_MESSAGE)
                depth += 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            out.append(event)
        return out

    def _check_node_event(self, event: yaml.NodeEvent) -> None:
        mark: Any = event.start_mark
        if event.anchor is not None:
            raise self._mark_error(
                mark,
                f"`&{_short(event.anchor)}` is a YAML anchor, which a cell body cannot use; "
                "remove it, or quote the value if `&` is part of the text",
            )
        tag = getattr(event, "tag", None)
        # `!!str` only says "this is text", which every value is anyway.
        if tag is not None and not (isinstance(event, yaml.ScalarEvent) and tag == _STR_TAG):
            raise self._mark_error(
                mark,
                f"`{self._written_at(mark.index)}` is a YAML tag, which a cell body cannot use "
                "(values are sent as text); remove it, or quote the value if it is text",
            )

    def _scalar(self, event: yaml.ScalarEvent) -> _Scalar:
        mark: Any = event.start_mark
        value = event.value
        if event.style == '"' and _SURROGATE_RE.search(value):
            # JSON-style "\ud83d\ude00" escapes: join the pairs; a lone one is not text.
            try:
                value = value.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError:
                raise self._mark_error(
                    mark,
                    "this string has a lone surrogate escape (`\\uD800`-`\\uDFFF`); write the "
                    "character itself or its `\\U` escape",
                ) from None
        implicit = not event.style and event.tag is None  # libyaml says "" for plain
        return _Scalar(value, implicit, mark.line + self.first_line, mark.column + 1, mark.index)

    def entries(self) -> list[tuple[str, _Node]]:
        """(name, value) of the top-level mapping, names checked, in the order written."""
        root = self.compose()
        if root is None or (isinstance(root, _Scalar) and root.implicit and root.value == ""):
            return []
        if not isinstance(root, _Map):
            raise ParamsError(_not_mapping_message(root), line=root.line, column=root.column)
        first_line: dict[str, int] = {}
        entries: list[tuple[str, _Node]] = []
        for key, value in root.pairs():
            name = self._param_name(key)
            if name in first_line:
                raise ParamsError(
                    f"`{name}` is given twice (first on line {first_line[name]}); keep one of them",
                    line=key.line,
                    column=key.column,
                )
            first_line[name] = key.line
            if isinstance(value, _Scalar) and value.implicit and value.value == "":
                raise ParamsError(
                    f'`{name}` has no value; give one, or write `{name}: ""` to send an '
                    "empty string",
                    line=key.line,
                    column=key.column,
                )
            entries.append((name, value))
        return entries

    def _param_name(self, key: _Node) -> str:
        if not isinstance(key, _Scalar):
            raise ParamsError(
                "a param name must be plain text, not a list or mapping; write `name: value`",
                line=key.line,
                column=key.column,
            )
        if key.implicit and key.value == "<<":
            raise _merge_key_error(key)
        found = self._placeholders_in(key.value)
        if found:
            raise self._error_at(
                found[0],
                f"`{found[0].text}` is in a param name; placeholders can only go in values",
            )
        if not is_valid_name(key.value):
            raise ParamsError(_name_message(key.value), line=key.line, column=key.column)
        return key.value

    # --- values ------------------------------------------------------------------------

    def grid_item(self, item: _Node, param: str) -> str:
        if isinstance(item, _Scalar):
            if item.implicit and item.value == "":
                # Point at the item's `-` (the parsers disagree on where "nothing" starts).
                dash = self.source.rfind("-", 0, item.offset + 1)
                line, column = self.position(dash) if dash >= 0 else (item.line, item.column)
                raise ParamsError(
                    f'an item of `{param}` is empty; give a value, or write `""` for an empty '
                    "string",
                    line=line,
                    column=column,
                )
            return self.fill(item.value)
        return self.json(item, param)

    def _json_scalar(self, node: _Scalar) -> str:
        text = self.fill(node.value)
        if node.implicit:
            if text in _JSON_TRUE:
                return "true"
            if text in _JSON_FALSE:
                return "false"
            if text in _JSON_NULL:
                return "null"
            if _JSON_NUMBER_RE.fullmatch(text):
                return text
        return _json_string(text)

    def json(self, node: _Node, param: str) -> str:
        """Compact JSON of a value, numbers kept as written (see the module's rules)."""
        if isinstance(node, _Scalar):
            return self._json_scalar(node)
        if isinstance(node, _Seq):
            # Scalars inline: a long list is tens of thousands of them.
            items = [
                self._json_scalar(item) if isinstance(item, _Scalar) else self.json(item, param)
                for item in node.children
            ]
            return "[" + ",".join(items) + "]"
        members: list[str] = []
        first_line: dict[str, int] = {}
        for key, value in node.pairs():
            if not isinstance(key, _Scalar):
                raise ParamsError(
                    f"a key inside the value of `{param}` must be text, not a list or mapping",
                    line=key.line,
                    column=key.column,
                )
            if key.implicit and key.value == "<<":
                raise _merge_key_error(key)
            name = self.fill(key.value)
            if name in first_line:
                raise ParamsError(
                    f"the key `{_short(name)}` appears twice in the value of `{param}` "
                    f"(first on line {first_line[name]}); keep one of them",
                    line=key.line,
                    column=key.column,
                )
            first_line[name] = key.line
            members.append(_json_string(name) + ":" + self.json(value, param))
        return "{" + ",".join(members) + "}"

    # --- YAML errors, summarised -------------------------------------------------------

    def _yaml_error(self, err: yaml.MarkedYAMLError) -> ParamsError:
        """One sentence for a PyYAML error, at the most useful of its two marks.

        PyYAML's own text is multi-line, full of parser jargon, and would show the sentinels;
        the characters quoted here are always read from the user's text instead.
        """
        problem = err.problem or ""
        context = err.context or ""
        mark: Any = err.problem_mark or err.context_mark
        opened: Any = err.context_mark or mark
        char = self._char_at(mark)
        ends_early = "end of stream" in problem or "document separator" in problem

        if "quoted scalar" in context:
            if ends_early or (mark is not None and mark.index >= len(self.source)):
                quote = self._char_at(opened) or "quote"
                return self._mark_error(
                    opened, f"the `{quote}` opened here is never closed; add the closing `{quote}`"
                )
            if "escape" in problem:
                backslash = self._back(mark, "\\")
                written = self._written_at(backslash.index, stop=' \t\r\n"')[:2]
                return self._mark_error(
                    backslash,
                    f"`{written}` is not a valid escape inside double quotes; use single quotes, "
                    "or write `\\\\` for a backslash",
                )
        if problem.startswith("mapping values are not allowed"):
            return self._mark_error(
                mark,
                'unexpected `:` here; quote a value that contains `: ` (e.g. `note: "a: b"`), '
                "or start every param name in the same column",
            )
        if problem.startswith("could not find expected ':'"):
            return self._mark_error(
                opened, "this line has no `:` after the param name; write `name: value`"
            )
        if "cannot start any token" in problem:
            if self._char_at(mark, raw=True) == "\t":
                return self._mark_error(mark, "YAML does not allow a tab here; use spaces")
            return self._mark_error(
                mark, f"a value cannot start with `{char}`; put the value in quotes"
            )
        if any(word in context for word in ("an alias", "an anchor", "a tag", "a block scalar")):
            indicator = self._char_at(opened)
            written = self._written_at(opened.index, stop="\r\n#").strip().replace('"', "")
            return self._mark_error(
                opened, f'a value starting with `{indicator}` must be quoted, e.g. `"{written}"`'
            )
        if "directive" in context:
            return self._mark_error(
                opened, "a line starting with `%` is a YAML directive; quote the value"
            )
        if problem.startswith("sequence entries are not allowed"):
            return self._mark_error(
                mark,
                "a `- ` list cannot start on the line of its name; put the items on the next "
                "lines, indented, or write `[a, b]`",
            )
        if problem.startswith(("expected <block end>", "expected '<document start>'")):
            if char == ":":
                return self._mark_error(
                    mark, "a param name is missing before `:`; write `name: value`"
                )
            before = self._before(mark)
            if before in ("'", '"'):
                return self._mark_error(
                    mark,
                    "there is text after the closing quote; put the whole value inside the quotes",
                )
            if before in ("]", "}"):
                return self._mark_error(
                    mark,
                    f"there is text after the closing `{before}`; quote the whole value if it "
                    "is text",
                )
            if _END_LINE_RE.search(self.source, 0, min(mark.index, len(self.source))):
                return self._mark_error(
                    mark, "nothing can follow a `...` (end of document) line; remove that line"
                )
            return self._mark_error(
                mark,
                "this line does not line up with the lines above; start every param name in "
                "the same column, one `name: value` per line",
            )
        if problem.startswith(("expected ',' or ']'", "expected ',' or '}'")):
            bracket = self._char_at(opened)
            closing = "]" if bracket == "[" else "}"
            if ends_early or "<stream end>" in problem:
                if bracket == "{" and self._char_at(opened, 1) == "{":
                    return self._mark_error(
                        opened, "this `{{` has no closing `}}` on its line; write `{{ name }}`"
                    )
                return self._mark_error(
                    opened,
                    f"this `{bracket}` is never closed; add `{closing}`, or quote the value if "
                    "the bracket is text",
                )
            if mark is not None and opened is not None and mark.line > opened.line:
                # The next line's `name:` is where PyYAML notices; the bracket is the problem.
                return self._mark_error(
                    opened,
                    f"this `{bracket}` is not closed on its line; add the closing `{closing}` "
                    "(or quote the value if the bracket is text)",
                )
            return self._mark_error(
                mark,
                f"the items inside `{bracket} {closing}` must be separated by commas; add one, "
                "or quote the value if the bracket is text",
            )
        if problem.startswith("expected the node content") or problem.startswith(
            "mapping keys are not allowed"
        ):
            if not char:
                return self._mark_error(
                    mark, "the cell body ends in the middle of a value; close every `[` and `{`"
                )
            return self._mark_error(
                mark, f"a value cannot start with `{char}`; put the value in quotes"
            )
        if problem.startswith("invalid indentation or unclosed"):
            return self._mark_error(
                mark,
                "a `[` or `{` is not closed, or a line inside it is not indented; close it, "
                "or quote the value",
            )
        if "tag handle" in problem:
            return self._mark_error(
                mark, "YAML tags cannot be used in a cell body; remove the tag or quote the value"
            )
        return self._mark_error(
            mark,
            "the cell body is not valid YAML here; check the indentation, the `name: value` "
            "pairs and the quotes",
        )

    def _char_at(self, mark: Any, ahead: int = 0, *, raw: bool = False) -> str:
        """The user's character at ``mark`` (escaped for a message unless ``raw``)."""
        if mark is None:
            return ""
        index = mark.index + ahead
        if not 0 <= index < len(self.source):
            return ""
        ch = self.source[index]
        return ch if raw or ch.isprintable() else repr(ch)[1:-1]

    def _before(self, mark: Any) -> str:
        """The last non-blank character before ``mark`` on its line."""
        if mark is None:
            return ""
        index = min(mark.index, len(self.source)) - 1
        while index >= 0 and self.source[index] in " \t":
            index -= 1
        return self.source[index] if index >= 0 else ""

    def _back(self, mark: Any, char: str) -> _Mark:
        """``mark`` moved back to the nearest ``char`` on its line (for escapes)."""
        index = min(mark.index, len(self.source) - 1)
        column = mark.column - (mark.index - index)
        while column > 0 and index > 0 and self.source[index] != char:
            index, column = index - 1, column - 1
        return _Mark(max(index, 0), mark.line, max(column, 0))


# --- small helpers -----------------------------------------------------------------------


def _flat_params(body: _Body) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in body.entries():
        if isinstance(value, _Scalar):
            params[name] = body.fill(value.value)
        else:
            params[name] = body.json(value, name)
    return params


def _grid_axes(body: _Body) -> dict[str, list[str]]:
    axes: dict[str, list[str]] = {}
    for name, value in body.entries():
        if isinstance(value, _Scalar):
            axis = body.list_axis(value.value, name)
            axes[name] = axis if axis is not None else [body.fill(value.value)]
        elif isinstance(value, _Map):
            axes[name] = [body.json(value, name)]
        else:
            if not value.children:
                raise ParamsError(
                    f"`{name}` is an empty list, so the grid would have no runs; "
                    "give it at least one value",
                    line=value.line,
                    column=value.column,
                )
            axes[name] = [body.grid_item(item, name) for item in value.children]
    return axes


def _read_events(loader: Any, out: list[yaml.Event]) -> Iterator[yaml.Event]:
    """The loader's events one at a time, each also kept in ``out`` (to restart after an
    error); the loader is disposed of at the end, however it ends."""
    # One call per event (get_event; the stream's last is StreamEndEvent), not two.
    get_event, keep, end = loader.get_event, out.append, yaml.StreamEndEvent
    try:
        while True:
            event = get_event()
            keep(event)
            yield event
            if type(event) is end:
                return
    finally:
        loader.dispose()


def _restart_offset(events: Sequence[yaml.Event], text: str) -> int:
    """The start of the line of the last top-level name in ``events`` (0 if there is none).

    Only a name alone at the start of its line in a block mapping counts: the body read from
    there on is then a mapping of the remaining params, as it was in the whole body.
    """
    depth = 0
    children = 0  # of the top-level mapping so far: names at even counts
    column = -1
    found = 0
    for event in events:
        mark: Any = event.start_mark  # both parsers always set it
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth == 1:
                if not isinstance(event, yaml.MappingStartEvent) or event.flow_style:
                    return 0
                column = mark.column
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            if depth == 1:
                children += 1
        elif isinstance(event, yaml.ScalarEvent) and depth == 1:
            line_start = mark.index - mark.column
            if (
                children % 2 == 0
                and mark.column == column
                and not text[line_start : mark.index].strip(" ")
            ):
                found = line_start
            children += 1
    return found


# libyaml's wording of a problem → the start of PyYAML's, which _yaml_error knows.
_LIBYAML_PROBLEMS: Final = {
    "did not find expected key": "expected <block end>",
    "did not find expected node content": "expected the node content",
}


def _row_column(text: str, offset: int) -> tuple[int, int]:
    """0-based (line, column) of ``offset``, as PyYAML counts them (see ``_Body.position``)."""
    row = 0
    start = 0
    for match in _LINE_BREAK_RE.finditer(text, 0, offset):
        row += 1
        start = match.end()
    return row, offset - start - text.count("\ufeff", start, offset)


def _shifted(mark: Any, shift: int) -> Any:
    """``mark`` with its index moved by ``shift`` (a mark is immutable in spirit only)."""
    if mark is None:
        return None
    return yaml.Mark(mark.name, mark.index + shift, mark.line, mark.column, None, 0)


def _placeholder_spans(text: str) -> list[tuple[int, int]]:
    r"""(start, end) of each ``\{{`` escape and each ``{{`` up to the first ``}}`` on its line.

    Left to right, in linear time: a lazy regex for this rescans to the end of the line from
    every ``{`` of a long ``{{{{...`` run with no ``}}``, which is quadratic.

    >>> _placeholder_spans("a: {{ x }} \\{{ {{{")
    [(3, 10), (11, 14)]
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    stop = -1  # where the current line ends: each line's break is looked for once
    dead = -1  # up to here, the line holds no `}}` after a `{{` that found none
    while (match := _PLACEHOLDER_OPEN_RE.search(text, pos)) is not None:
        begin = match.start()
        if match.group() == _ESCAPE:
            spans.append((begin, match.end()))
            pos = match.end()
            continue
        pos = begin + 1
        if begin < dead:  # only an escape can still match before the line ends
            escape = text.find(_ESCAPE, begin, dead)
            pos = escape if escape >= 0 else dead
            continue
        if begin + 2 > stop:
            brk = _BREAK_RE.search(text, begin + 2)
            stop = brk.start() if brk is not None else len(text)
        close = text.find("}}", begin + 2, stop)
        if close < 0:
            dead = stop
            continue
        spans.append((begin, close + 2))
        pos = close + 2
    return spans


def _free_characters(text: str, count: int) -> list[str]:
    """``count`` private-use characters absent from ``text`` (even as ``\\u`` escapes)."""
    used = set(text)
    for match in _HEX_ESCAPE_RE.finditer(text):
        code = int(match.group(1) or match.group(2), 16)
        if code <= 0x10FFFF:
            used.add(chr(code))
    free: list[str] = []
    for low, high in _PRIVATE_USE:
        for code in range(low, high + 1):
            if chr(code) not in used:
                free.append(chr(code))
                if len(free) == count:
                    return free
    raise ParamsError("the cell body uses too many private-use characters to be read")


def _encode(index: int, digits: Sequence[str]) -> str:
    out = digits[index % _BASE]
    index //= _BASE
    while index:
        out = digits[index % _BASE] + out
        index //= _BASE
    return out


def _short(text: str, limit: int = 40) -> str:
    """``text`` for a one-line message: control characters escaped, long text cut."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _name_message(name: str) -> str:
    shown = _short(name)
    if name == "":
        return "a param name is missing before `:`; write `name: value`"
    if len(name) > 32:
        why = f"it has {len(name)} characters"
    elif len(name) == 1:
        why = "it has only one character"
    elif "A" <= name[0] <= "Z":
        why = "it has uppercase letters"
    elif not ("a" <= name[0] <= "z"):
        why = f"it starts with `{_short(name[0])}`"
    elif name[-1] in "-_":
        why = f"it ends with `{name[-1]}`"
    elif any(ch.isupper() for ch in name):
        why = "it has uppercase letters"
    else:
        bad = next((ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch in "-_"))), "")
        why = f"it contains `{_short(bad)}`" if bad else "it breaks the naming rule"
    suggestion = _suggest_name(name)
    example = f", e.g. `{suggestion}`" if suggestion else ""
    return f"`{shown}` is not a valid param name ({why}); {NAME_RULE}{example}"


def _suggest_name(name: str) -> str | None:
    candidate = re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower())
    candidate = re.sub(r"^[^a-z]+", "", candidate)[:32].rstrip("-_")
    return candidate if is_valid_name(candidate) and candidate != name else None


def _not_str_message(name: str, value: Any) -> str:
    if value is None:
        return f"`{name}` is None, but param values must be strings; pass a string or leave it out"
    kind = type(value).__name__
    article = "an" if kind[:1] in "aeiou" else "a"
    try:
        text = str(value)
    except Exception:  # a user object's __str__ may raise anything
        text = "..."
    return (
        f"`{name}` is {article} {kind} ({_short(repr(value))}), but param values must be "
        f'strings; pass "{_short(text)}" (str(...)) instead'
    )


def _not_mapping_message(root: _Node) -> str:
    if isinstance(root, _Seq):
        return (
            "the cell body must be a YAML mapping of param name to value, not a list; "
            "write `name: value` lines, e.g. `lr: 0.01`"
        )
    if isinstance(root, _Scalar) and re.match(r"[a-z][a-z0-9_-]*:\S", root.value):
        return (
            "the cell body must be a YAML mapping of param name to value; put a space after "
            "the `:`, e.g. `lr: 0.01`"
        )
    return "the cell body must be a YAML mapping of param name to value, e.g. `lr: 0.01`"


def _merge_key_error(key: _Scalar) -> ParamsError:
    return ParamsError(
        "YAML merge keys (`<<`) cannot be used in a cell body; write the params out",
        line=key.line,
        column=key.column,
    )
