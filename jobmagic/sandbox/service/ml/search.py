"""The ML-runs search grammar: ``filter`` and ``order_by`` of ``POST /runs/search``. Pure.

MLflow's own grammar (its "Search Runs" guide), for the fields the sandbox serves: a filter is
comparisons joined by ``and`` (case-insensitive; no ``or``)::

    tags.TFY_INTERNAL_JOB_RUN_NAME = 'train-k3x9q' and metrics.loss < 0.5

===============  =============================================  ================================
left side        operators                                      right side
===============  =============================================  ================================
``tags.K``       ``=`` ``!=`` ``LIKE`` ``ILIKE``                a quoted string ('x' or "x")
``params.K``     ``=`` ``!=`` ``LIKE`` ``ILIKE``                a quoted string
``metrics.K``    ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=``         a number (the latest value)
text attributes  ``=`` ``!=`` ``LIKE`` ``ILIKE``;               a quoted string; for IN a list
                 ``IN`` ``NOT IN`` for ``run_id`` only          of single-quoted strings
time attributes  ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=``         a number (ms since the epoch)
any of them      ``IS NULL`` ``IS NOT NULL``                    nothing
===============  =============================================  ================================

Text attributes: ``run_id``, ``run_name`` (also ``` `run name` ```), ``status``, ``user_id``,
``artifact_uri``; time attributes: ``start_time`` (also ``created``), ``end_time``. A bare key
is an attribute (``status = 'FAILED'``); prefixes may be singular (``metric.``, ``param.``,
``tag.``, ``attribute.``/``attr.``/``run.``). ``attributes.name`` is refused, as MLflow refuses
it: the run's name is ``attributes.run_name``. A key with characters other than letters,
digits, ``_`` and ``.`` is back-quoted or double-quoted (``metrics.`log-scale-loss```). A run
that lacks a tag, param or metric matches no comparison on it (neither ``=`` nor ``!=``), as in
MLflow; ``IS NULL`` finds it. An ``order_by`` item is ``<key> [ASC|DESC]`` over the same keys
(plus ``experiment_id``).

A refused filter raises :class:`SearchError`, whose ``field`` is the request's field
(``filter``, ``order_by[1]``) and whose message names the key at fault.

>>> [(c.kind, c.key, c.op, c.value) for c in parse_filter("tags.a = 'x' AND metrics.l <= 1e-3")]
[('tags', 'a', '=', 'x'), ('metrics', 'l', '<=', 0.001)]
>>> [(c.key, c.op, c.value) for c in parse_filter("attributes.run_id IN ('a', 'b')")]
[('run_id', 'IN', ('a', 'b'))]
>>> [(c.key, c.op) for c in parse_filter("tags.x IS NOT NULL and created > 0")]
[('x', 'IS NOT NULL'), ('start_time', '>')]
>>> [(o.kind, o.key, o.descending) for o in parse_order_by(["metrics.l", "start_time DESC"])]
[('metrics', 'l', False), ('attributes', 'start_time', True)]
>>> try:
...     parse_filter("attributes.name = 'x'")
... except SearchError as error:
...     print(error.field, "|", error)
filter | attributes.name: not an attribute a search names; the run's name is attributes.run_name
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ATTRIBUTES",
    "Condition",
    "Kind",
    "Order",
    "SearchError",
    "parse_filter",
    "parse_order_by",
]

Kind = Literal["tags", "params", "metrics", "attributes"]
_KINDS: dict[str, Kind] = {
    "tags": "tags",
    "tag": "tags",
    "params": "params",
    "param": "params",
    "parameter": "params",
    "parameters": "params",
    "metrics": "metrics",
    "metric": "metrics",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
#: The attributes a filter may name, and whether they hold text or numbers (MLflow's
#: searchable RunInfo attributes the sandbox serves).
ATTRIBUTES: dict[str, Literal["text", "number"]] = {
    "run_id": "text",
    "run_name": "text",
    "status": "text",
    "user_id": "text",
    "artifact_uri": "text",
    "start_time": "number",
    "end_time": "number",
}
#: Other spellings MLflow accepts for an attribute.
_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}
#: Attributes an order may name beyond the searchable ones.
_ORDER_ONLY = {"experiment_id": "text"}
_TEXT_OPS = ("=", "!=", "LIKE", "ILIKE")
_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_LIST_OPS = ("IN", "NOT IN")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>[A-Za-z_][\w]*(?:\.(?:`[^`]+`|"[^"]+"|[\w.\-]+))?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<quoted>`[^`]+`)
    )""",
    re.VERBOSE,
)


class SearchError(ValueError):
    """A filter or order the sandbox refuses: ``field`` is the request's field at fault."""

    def __init__(self, message: str, field: str = "filter") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Condition:
    """One comparison of a filter: ``value`` is None for the NULL tests, a tuple for IN."""

    kind: Kind
    key: str
    op: str
    value: str | float | tuple[str, ...] | None


@dataclass(frozen=True)
class Order:
    """One item of ``order_by``."""

    kind: Kind
    key: str
    descending: bool


_Token = tuple[str, str, int]


def _tokens(text: str, field: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            position += len(text[position:]) - len(text[position:].lstrip())
            raise SearchError(
                f"cannot read the filter at character {position + 1}: "
                f"{text[position : position + 20]!r}",
                field,
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _split_key(ident: str, field: str, *, order: bool = False) -> tuple[Kind, str]:
    if len(ident) >= 2 and ident[0] == ident[-1] == "`":
        ident = ident[1:-1]  # a bare attribute back-quoted: `run name`
        prefix, dot, key = ident, "", ""
    else:
        prefix, dot, key = ident.partition(".")
    if not dot:
        name = _ALIASES.get(prefix, prefix)
        if name in ATTRIBUTES or (order and name in _ORDER_ONLY):
            return "attributes", name
        if name == "name":
            raise SearchError(
                "name: not an attribute a search names; the run's name is run_name", field
            )
        raise SearchError(
            f"{ident!r} names nothing: write tags.<key>, params.<key>, metrics.<key> or "
            f"attributes.<{'|'.join(ATTRIBUTES)}>",
            field,
        )
    kind = _KINDS.get(prefix.lower())
    if kind is None and prefix.lower() in ("dataset", "datasets"):
        raise SearchError(f"{ident}: the sandbox keeps no datasets (MLflow's log_input)", field)
    if kind is None:
        raise SearchError(
            f"unknown prefix {prefix!r} in {ident!r}: use tags., params., metrics. or attributes.",
            field,
        )
    if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
        key = key[1:-1]
    elif "-" in key or key[:1].isdigit():
        raise SearchError(
            f"{ident}: a key with '-' in it or a digit first is back-quoted, e.g. {prefix}.`{key}`",
            field,
        )
    if kind == "attributes":
        key = _ALIASES.get(key, key)
        if key == "name":
            raise SearchError(
                f"{ident}: not an attribute a search names; the run's name is {prefix}.run_name",
                field,
            )
        if key not in ATTRIBUTES and not (order and key in _ORDER_ONLY):
            raise SearchError(
                f"{ident}: unknown attribute {key!r}; one of {', '.join(ATTRIBUTES)}", field
            )
    return kind, key


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def parse_filter(text: str | None) -> list[Condition]:
    """The conditions of a filter (all must hold); :class:`SearchError` says what is wrong."""
    if text is None or not text.strip():
        return []
    tokens = _tokens(text, "filter")
    conditions: list[Condition] = []
    index = 0
    while True:
        kind_tok, ident, _ = tokens[index]
        if kind_tok not in ("ident", "quoted"):
            raise SearchError(f"expected a key such as metrics.loss, got {ident!r}")
        kind, key = _split_key(ident, "filter")
        op, index = _operator(tokens, index + 1, ident)
        if op in _NULL_OPS:
            conditions.append(Condition(kind, key, op, None))
        elif op in _LIST_OPS:
            values, index = _string_list(tokens, index, ident)
            conditions.append(_condition(kind, key, op, ("list", values), ident))
        else:
            if index >= len(tokens):
                raise SearchError(f"{ident} {op} has no value")
            value_kind, raw, _ = tokens[index]
            conditions.append(_condition(kind, key, op, (value_kind, raw), ident))
            index += 1
        if index == len(tokens):
            return conditions
        joiner = tokens[index][1]
        if tokens[index][0] != "ident" or joiner.lower() != "and":
            raise SearchError(f"conditions are joined by 'and', got {joiner!r}")
        index += 1
        if index == len(tokens):
            raise SearchError("the filter ends with 'and'")


def _word(tokens: Sequence[_Token], index: int) -> str:
    return tokens[index][1].upper() if index < len(tokens) and tokens[index][0] == "ident" else ""


def _operator(tokens: Sequence[_Token], index: int, ident: str) -> tuple[str, int]:
    """The operator at ``index`` (words such as ``IS NOT NULL`` joined) and what follows it."""
    word = _word(tokens, index)
    if word in ("LIKE", "ILIKE", "IN"):
        return word, index + 1
    if word == "NOT" and _word(tokens, index + 1) == "IN":
        return "NOT IN", index + 2
    if word == "IS":
        if _word(tokens, index + 1) == "NULL":
            return "IS NULL", index + 2
        if _word(tokens, index + 1) == "NOT" and _word(tokens, index + 2) == "NULL":
            return "IS NOT NULL", index + 3
        raise SearchError(f"{ident} IS …: write {ident} IS NULL or {ident} IS NOT NULL")
    if index < len(tokens) and tokens[index][0] == "op":
        op = tokens[index][1]
        return {"==": "=", "<>": "!="}.get(op, op), index + 1
    got = tokens[index][1] if index < len(tokens) else "nothing"
    raise SearchError(f"expected an operator after {ident}, got {got!r}")


def _string_list(tokens: Sequence[_Token], index: int, ident: str) -> tuple[tuple[str, ...], int]:
    """``('a', 'b')`` at ``index``: single-quoted strings only, as MLflow requires."""
    example = f"{ident} IN ('a', 'b')"
    if index >= len(tokens) or tokens[index][1] != "(":
        raise SearchError(f"{ident} IN takes a list in parentheses, e.g. {example}")
    values: list[str] = []
    index += 1
    while True:
        if index >= len(tokens):
            raise SearchError(f"the list after {ident} IN is not closed with ')'")
        kind, raw, _ = tokens[index]
        if kind != "string" or not raw.startswith("'"):
            raise SearchError(
                f"the list after {ident} IN holds single-quoted strings, e.g. {example}; got {raw}"
            )
        values.append(_unquote(raw))
        index += 1
        if index < len(tokens) and tokens[index][1] == ",":
            index += 1
            continue
        if index < len(tokens) and tokens[index][1] == ")":
            return tuple(values), index + 1
        raise SearchError(f"the list after {ident} IN is not closed with ')'")


def _condition(
    kind: Kind,
    key: str,
    op: str,
    value: tuple[str, str | tuple[str, ...]],
    ident: str,
) -> Condition:
    value_kind, raw = value
    numeric = kind == "metrics" or (kind == "attributes" and ATTRIBUTES[key] == "number")
    if op in _LIST_OPS:
        if kind != "attributes" or key != "run_id":
            raise SearchError(f"{ident}: only attributes.run_id takes {op} (a list)")
        return Condition(kind, key, op, raw)
    assert isinstance(raw, str)
    if numeric:
        if value_kind != "number":
            raise SearchError(f"{ident} compares with a number, e.g. {ident} < 0.5; got {raw}")
        if op not in _NUMBER_OPS:
            raise SearchError(f"{ident} takes {' '.join(_NUMBER_OPS)}, not {op}")
        return Condition(kind, key, op, float(raw))
    if value_kind != "string":
        raise SearchError(f"{ident} compares with a quoted string, e.g. {ident} = 'x'; got {raw}")
    if op not in _TEXT_OPS:
        raise SearchError(f"{ident} takes {' '.join(_TEXT_OPS)}, not {op}")
    return Condition(kind, key, op, _unquote(raw))


def parse_order_by(items: Sequence[str] | None) -> list[Order]:
    """``order_by`` items, in priority order; :class:`SearchError` names the one at fault."""
    orders: list[Order] = []
    for position, item in enumerate(items or ()):
        field = f"order_by[{position}]"
        if not isinstance(item, str) or not item.strip():
            raise SearchError(
                f"order_by items are strings such as 'metrics.loss ASC', got {item!r}", field
            )
        head, _, direction = item.strip().rpartition(" ")
        if direction.upper() not in ("ASC", "DESC"):
            head, direction = item.strip(), "ASC"
        tokens = _tokens(head.strip(), field)
        if len(tokens) != 1 or tokens[0][0] not in ("ident", "quoted"):
            raise SearchError(f"cannot order by {item!r}: write e.g. 'metrics.loss ASC'", field)
        kind, key = _split_key(tokens[0][1], field, order=True)
        orders.append(Order(kind, key, direction.upper() == "DESC"))
    return orders
