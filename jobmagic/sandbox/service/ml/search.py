"""The ML-runs search grammar: ``filter`` and ``order_by`` of ``POST /runs/search``. Pure.

A filter is comparisons joined by ``and`` (case-insensitive), MLflow-style::

    tags.TFY_INTERNAL_JOB_RUN_NAME = 'train-k3x9q' and metrics.loss < 0.5

=============  ==========================================  =================================
prefix         operators                                   value
=============  ==========================================  =================================
``tags.``      ``=`` ``!=`` ``LIKE`` ``ILIKE``             a quoted string
``params.``    ``=`` ``!=`` ``LIKE`` ``ILIKE``             a quoted string
``metrics.``   ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=``      a number (the metric's latest value)
``attributes.`` ``=`` ``!=`` (``<`` … on times)            ``name``/``run_name``, ``status``,
                                                           ``run_id``: a string;
                                                           ``start_time``/``end_time``: a number
=============  ==========================================  =================================

A key with odd characters is back-quoted (``params.`learning rate```). An ``order_by`` item is
``<prefix>.<key> [ASC|DESC]`` or a bare attribute (``start_time DESC``).

>>> [(c.kind, c.key, c.op, c.value) for c in parse_filter("tags.a = 'x' AND metrics.l <= 1e-3")]
[('tags', 'a', '=', 'x'), ('metrics', 'l', '<=', 0.001)]
>>> [(o.kind, o.key, o.descending) for o in parse_order_by(["metrics.l", "start_time DESC"])]
[('metrics', 'l', False), ('attributes', 'start_time', True)]
>>> parse_filter("metrics.loss < 'low'")
Traceback (most recent call last):
...
ValueError: metrics.loss compares with a number, e.g. metrics.loss < 0.5; got 'low'
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
    "parse_filter",
    "parse_order_by",
]

Kind = Literal["tags", "params", "metrics", "attributes"]
_KINDS: dict[str, Kind] = {
    "tags": "tags",
    "tag": "tags",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "metrics": "metrics",
    "metric": "metrics",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
#: Attributes a filter or an order may name, and whether they hold text or numbers.
ATTRIBUTES: dict[str, Literal["text", "number"]] = {
    "name": "text",
    "run_name": "text",
    "status": "text",
    "run_id": "text",
    "start_time": "number",
    "end_time": "number",
}
_TEXT_OPS = ("=", "!=", "LIKE", "ILIKE")
_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>[A-Za-z_][\w]*(?:\.(?:`[^`]+`|"[^"]+"|[\w.\-]+))?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Condition:
    """One comparison of a filter."""

    kind: Kind
    key: str
    op: str
    value: str | float


@dataclass(frozen=True)
class Order:
    """One item of ``order_by``."""

    kind: Kind
    key: str
    descending: bool


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            position += len(text[position:]) - len(text[position:].lstrip())
            raise ValueError(
                f"cannot read the filter at character {position + 1}: "
                f"{text[position : position + 20]!r}"
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _split_key(ident: str) -> tuple[Kind, str]:
    prefix, dot, key = ident.partition(".")
    kind = _KINDS.get(prefix.lower())
    if not dot:
        if ident in ATTRIBUTES:
            return "attributes", ident
        raise ValueError(
            f"{ident!r} names nothing: write tags.<key>, params.<key>, metrics.<key> or "
            f"attributes.<{'|'.join(ATTRIBUTES)}>"
        )
    if kind is None:
        raise ValueError(
            f"unknown prefix {prefix!r} in {ident!r}: use tags., params., metrics. or attributes."
        )
    if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
        key = key[1:-1]
    if kind == "attributes" and key not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {key!r}: one of {', '.join(ATTRIBUTES)}")
    return kind, key


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def parse_filter(text: str | None) -> list[Condition]:
    """The conditions of a filter (all must hold); ``ValueError`` says what is wrong."""
    if text is None or not text.strip():
        return []
    tokens = _tokens(text)
    conditions: list[Condition] = []
    index = 0
    while True:
        kind_tok, ident, _ = tokens[index]
        if kind_tok != "ident":
            raise ValueError(f"expected a key such as metrics.loss, got {ident!r}")
        kind, key = _split_key(ident)
        op_kind, op, _ = tokens[index + 1] if index + 1 < len(tokens) else ("", "", 0)
        op = op.upper()
        if op_kind == "ident" and op in ("LIKE", "ILIKE"):
            op_kind = "op"
        if op_kind != "op":
            raise ValueError(f"expected an operator after {ident}, got {op or 'nothing'!r}")
        op = {"==": "=", "<>": "!="}.get(op, op)
        if index + 2 >= len(tokens):
            raise ValueError(f"{ident} {op} has no value")
        value_kind, raw, _ = tokens[index + 2]
        conditions.append(_condition(kind, key, op, value_kind, raw, ident))
        index += 3
        if index == len(tokens):
            return conditions
        joiner = tokens[index][1]
        if tokens[index][0] != "ident" or joiner.lower() != "and":
            raise ValueError(f"conditions are joined by 'and', got {joiner!r}")
        index += 1
        if index == len(tokens):
            raise ValueError("the filter ends with 'and'")


def _condition(kind: Kind, key: str, op: str, value_kind: str, raw: str, ident: str) -> Condition:
    numeric = kind == "metrics" or (kind == "attributes" and ATTRIBUTES[key] == "number")
    if numeric:
        if value_kind != "number":
            raise ValueError(f"{ident} compares with a number, e.g. {ident} < 0.5; got {raw}")
        if op not in _NUMBER_OPS:
            raise ValueError(f"{ident} takes {' '.join(_NUMBER_OPS)}, not {op}")
        return Condition(kind, key, op, float(raw))
    if value_kind != "string":
        raise ValueError(f"{ident} compares with a quoted string, e.g. {ident} = 'x'; got {raw}")
    allowed = _TEXT_OPS if kind != "attributes" else ("=", "!=")
    if op not in allowed:
        raise ValueError(f"{ident} takes {' '.join(allowed)}, not {op}")
    return Condition(kind, key, op, _unquote(raw))


def parse_order_by(items: Sequence[str] | None) -> list[Order]:
    """``order_by`` items, in priority order; ``ValueError`` says which one is wrong."""
    orders: list[Order] = []
    for item in items or ():
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"order_by items are strings such as 'metrics.loss ASC', got {item!r}")
        head, _, direction = item.strip().rpartition(" ")
        if direction.upper() not in ("ASC", "DESC"):
            head, direction = item.strip(), "ASC"
        tokens = _tokens(head.strip())
        if len(tokens) != 1 or tokens[0][0] != "ident":
            raise ValueError(f"cannot order by {item!r}: write e.g. 'metrics.loss ASC'")
        kind, key = _split_key(tokens[0][1])
        orders.append(Order(kind, key, direction.upper() == "DESC"))
    return orders
