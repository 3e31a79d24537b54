"""A list or mapping value as the compact JSON that is sent, numbers kept as written.

Inside a collection the JSON types follow YAML 1.2's JSON rules: a plain scalar written as
a JSON number is that number, exactly as written; ``true``/``false`` and ``null``/``~``/
nothing (in three cases each) are JSON's; everything else is a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Final

from jobmagic.errors import ParamsError
from jobmagic.params._lines import flow_json
from jobmagic.params._source import short
from jobmagic.params._tree import Flow, Map, Node, Scalar, Seq, merge_key_error

__all__ = ["JSON_FALSE", "JSON_NULL", "JSON_NUMBER_RE", "JSON_TRUE", "json_scalar", "to_json"]

JSON_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
JSON_TRUE: Final = frozenset({"true", "True", "TRUE"})
JSON_FALSE: Final = frozenset({"false", "False", "FALSE"})
JSON_NULL: Final = frozenset({"", "~", "null", "Null", "NULL"})
# json.dumps(text, ensure_ascii=False) without its per-call set-up (20x faster: a value may
# hold tens of thousands of strings).
_json_string: Final = json.encoder.encode_basestring

Fill = Callable[[str], str]


def json_scalar(node: Scalar, fill: Fill) -> str:
    """The JSON of a scalar inside a collection, placeholders filled in first.

    >>> [json_scalar(Scalar(text, True, 1, 1, 0), str) for text in ("0.10", "No", "~", "010")]
    ['0.10', '"No"', 'null', '"010"']
    """
    text = fill(node.value)
    if node.implicit:
        if text in JSON_TRUE:
            return "true"
        if text in JSON_FALSE:
            return "false"
        if text in JSON_NULL:
            return "null"
        if JSON_NUMBER_RE.fullmatch(text):
            return text
    return _json_string(text)


def to_json(node: Node, param: str, fill: Fill) -> str:
    """Compact JSON of the value of ``param`` (see the module's rules)."""
    if isinstance(node, Scalar):
        return json_scalar(node, fill)
    if isinstance(node, Flow):
        return flow_json([node])[0]
    if isinstance(node, Seq):
        # Scalars inline: a long list is tens of thousands of them.
        items = [
            json_scalar(item, fill) if isinstance(item, Scalar) else to_json(item, param, fill)
            for item in node.children
        ]
        return "[" + ",".join(items) + "]"
    return _map_json(node, param, fill)


def _map_json(node: Map, param: str, fill: Fill) -> str:
    members: list[str] = []
    first_line: dict[str, int] = {}
    for key, value in node.pairs():
        if not isinstance(key, Scalar):
            raise ParamsError(
                f"a key inside the value of `{param}` must be text, not a list or mapping",
                line=key.line,
                column=key.column,
            )
        if key.implicit and key.value == "<<":
            raise merge_key_error(key)
        name = fill(key.value)
        if name in first_line:
            raise ParamsError(
                f"the key `{short(name)}` appears twice in the value of `{param}` "
                f"(first on line {first_line[name]}); keep one of them",
                line=key.line,
                column=key.column,
            )
        first_line[name] = key.line
        members.append(_json_string(name) + ":" + to_json(value, param, fill))
    return "{" + ",".join(members) + "}"
