"""The fast path for the bodies people write: one ``name: value`` per line, read by regex.

libyaml hands PyYAML one Python event per scalar (~1.5 µs each), so a 64 KiB list of 21,000
numbers costs ~30 ms before anything else is done with it. Most bodies are a block mapping
of one-line entries whose values are plain words, simply quoted text or small one-line flow
collections; for those, a few regular expressions over the whole text give the same tree
(and, for flow values, the same JSON) in linear time at C speed.

The grammar here is a strict subset of what both YAML parsers read identically: anything
unusual (tabs, escapes, anchors, tags, block collections, multi-line values, ``\\r``, a
byte-order mark, a control character) is in none of its patterns, so it ends the fast
part. What follows is read by :func:`~jobmagic.params._compose.compose` from the start of
the last fast entry on (its line could go on below), with everything above it blanked to
spaces, so lines, columns and offsets are those of the whole body. A block mapping at
column 0 reads the same from any of its entries on, so the two parts together are the whole
body's tree; YAML errors can only be in the second part, and names are checked after, as
before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from jobmagic.params._source import SURROGATE_RE, Source
from jobmagic.params._tree import Flow, Map, Node, Scalar

__all__ = [
    "ENABLED",
    "FastPart",
    "NotFast",
    "blank_above",
    "flow_items",
    "flow_json",
    "join",
    "read_lines",
    "squeeze",
]

#: Off, bodies are read by YAML alone (tests compare the two).
ENABLED: bool = True


class NotFast(Exception):
    """A fast-read value needs the slow path after all (a duplicate key, a nested grid axis)."""


# --- the grammar -------------------------------------------------------------------------

# Every class is negated: a class of large Unicode ranges costs sre ~65,000 steps to compile
# per use, and the nested grammar uses them dozens of times. Never in any of them: controls,
# DEL to NBSP (the break \x85 among them), the breaks U+2028/9, a byte-order mark, and the
# two non-characters; read_lines leaves bodies with a lone surrogate to YAML.
_NOT_TEXT: Final = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufeff\\ufffe\\uffff"
_NOT_PLAIN: Final = _NOT_TEXT + " \\xa0"
# A plain scalar's first character: no YAML indicator (nor `<`, as in `<<`, nor `\`).
_FIRST: Final = f"[^{_NOT_PLAIN}\\-?:,\\[\\]{{}}#&*!|>'\"%@`<\\\\]"
# Past it, in flow context (where `?` and `:` end a plain scalar); a new word after blanks
# cannot start with `#` (that is a comment).
_FLOW_INNER: Final = f"[^{_NOT_PLAIN}?:,\\[\\]{{}}'\"\\\\]"
_FLOW_WORD: Final = f"[^{_NOT_PLAIN}?:,\\[\\]{{}}'\"\\\\#]{_FLOW_INNER}*"
_FLOW_SCALAR: Final = f"(?:{_FIRST}|-(?={_FLOW_INNER})){_FLOW_INNER}*(?: +{_FLOW_WORD})*"
# A key is one word: a simple key must be short, and `{a b: c}` is rare.
_FLOW_KEY: Final = f"(?:{_FIRST}|-(?={_FLOW_INNER})){_FLOW_INNER}{{0,127}}"
# In block context a plain scalar holds anything but a `:` followed by a blank. Placeholder
# sentinels (private use) are plain characters; flow_json sends values holding them back.
_BLOCK_CHAR: Final = f"[^{_NOT_PLAIN}:]"
_BLOCK_RUN: Final = f"{_BLOCK_CHAR}*(?::+(?=[^ \\n]){_BLOCK_CHAR}*)*"
_BLOCK_WORD: Final = f"(?:[^{_NOT_PLAIN}:#]|:+(?=[^ \\n])){_BLOCK_RUN}"
_BLOCK_SCALAR: Final = f"(?:{_FIRST}|-(?={_BLOCK_CHAR})){_BLOCK_RUN}(?: +{_BLOCK_WORD})*"
# Quoted scalars with nothing to decode: no escapes in "...", `''` the only one in '...'.
_SINGLE: Final = f"'(?:[^{_NOT_TEXT}']|'')*'"
_DOUBLE: Final = f'"[^{_NOT_TEXT}"\\\\]*"'
_COMMENT: Final = (
    "#[^\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufeff\\ufffe\\uffff]*"  # tabs too
)
# Placeholder sentinels: a flow value holding one is typed after filling, by the slow path.
_PRIVATE_USE_RE: Final = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")
_FLOW_DEPTH: Final = 3


def _flow(depth: int) -> str:
    """A flow sequence or mapping nested at most ``depth`` deep, on one line.

    Each item is written once, followed by a comma that is not the last thing or by the
    closing bracket: with the item twice (first, then after each comma) the pattern would
    double per level, and compiling it would take seconds.
    """
    item = _FLOW_SCALAR if depth == 1 else f"(?:{_FLOW_SCALAR}|{_flow(depth - 1)})"
    seq = f"\\[ *(?:{item} *(?:, *(?=[^\\] ])|(?=\\])))*\\]"
    mapping = f"\\{{ *(?:{_FLOW_KEY}: +{item} *(?:, *(?=[^}} ])|(?=\\}})))*\\}}"
    return f"(?:{seq}|{mapping})"


_FLOW: Final = _flow(_FLOW_DEPTH)
# A simple key is at most 1024 characters; past the API's 32, the slow path explains.
_KEY: Final = "[a-z][a-z0-9_-]{0,63}"


_VALUE: Final = f"(?:{_BLOCK_SCALAR}|{_SINGLE}|{_DOUBLE}|{_FLOW})"
_LINE: Final = f"{_KEY}: +{_VALUE}(?: +{_COMMENT}| *)"
# `name:` and then `- item` lines, all at one indentation, each item a plain scalar as in a
# flow list (a more indented line would go on with the item: it ends the fast part).
_ITEM: Final = f"- +{_FLOW_SCALAR}(?: +{_COMMENT}| *)"
_BLOCK_LIST: Final = f"{_KEY}:(?: +{_COMMENT}| *)\\n(?P<indent> *){_ITEM}(?:\\n(?P=indent){_ITEM})*"
# `name: [` and then one plain scalar per line, all at one indentation, each followed by a
# comma but the last, which the `]` closes: the one-line flow list spread over lines.
_ML_ITEM: Final = f"{_FLOW_SCALAR} *"
_FLOW_LINES: Final = (
    f"{_KEY}: +\\[ *\\n(?P<flow_indent> +){_ML_ITEM},"
    f"(?:\\n(?P=flow_indent){_ML_ITEM},)*\\n(?P=flow_indent){_ML_ITEM}\\](?: +{_COMMENT}| *)"
)
# The lines the fast grammar holds, as one pattern: read_lines matches it once.
_LINES_RE: Final = re.compile(f"(?:(?:{_LINE}|{_BLOCK_LIST}|{_FLOW_LINES}| *(?:{_COMMENT})?)\\n)*")
# An entry of those lines, and its value: in them a value ends at its closing quote, or else
# before the first ` #` or the blanks at the end of the line (neither occurs in one).
_WRITTEN: Final = "[^\\n ]+(?: +(?=[^ #\\n])[^\\n ]+)*"
_ENTRY_RE: Final = re.compile(
    f"^(?P<key>{_KEY}):(?: +(?:(?P<lines>\\[ *\\n[^\\]]*\\])"
    f"|(?P<single>'(?:[^'\\n]|'')*')|(?P<double>\"[^\"\\n]*\")"
    f"|(?P<other>(?!#){_WRITTEN}))"
    "|[^\\n]*\\n(?P<block>(?P<at> *)- [^\\n]*(?:\\n(?P=at)- [^\\n]*)*))",
    re.MULTILINE,
)
_ITEM_RE: Final = re.compile(f"^ *- +({_WRITTEN})", re.MULTILINE)
# A flow sequence's opening `[`, its first item and then a run of `item,`: see squeeze.
_OPEN_RUN_RE: Final = re.compile(
    f"{_KEY}: +\\[ *{_FLOW_SCALAR} *,(?P<run>(?: *{_FLOW_SCALAR} *,)+)"
)


class FastPart(NamedTuple):
    """What :func:`read_lines` read: ``restart`` is where the slow path starts (the length of
    the text if it has nothing to read), ``stop`` the first line the fast grammar refused."""

    nodes: list[Node]
    restart: int
    stop: int


def read_lines(yaml_text: str, source: Source) -> FastPart:
    """The key and value nodes of the fast entries, and where the slow path must start.

    >>> part = read_lines("lr: 0.1\\nxs: [1, a]\\nbad line\\n", Source(""))
    >>> [getattr(node, "value", None) for node in part.nodes], part.restart, part.stop
    (['lr', '0.1'], 8, 19)
    """
    if SURROGATE_RE.search(yaml_text):  # not text: YAML says where
        return FastPart([], 0, 0)
    text = yaml_text if yaml_text.endswith("\n") else yaml_text + "\n"
    stop = min(_LINES_RE.match(text).end(), len(yaml_text))  # type: ignore[union-attr]
    nodes: list[Node] = []
    line = source.first_line
    counted = 0
    last_start = 0
    for match in _ENTRY_RE.finditer(text, 0, stop):
        start = match.start()
        line += text.count("\n", counted, start)
        counted = start
        last_start = start
        nodes.append(Scalar(match.group("key"), True, line, 1, start))
        kind = "block" if match.start("block") >= 0 else match.lastgroup or ""
        at = match.start(kind)
        value = match.group(kind)
        column = at - start + 1
        if kind == "lines":
            # As the one-line list it spells: the same JSON and grid axis.
            items = ", ".join(item.strip(" \n") for item in value[1:-1].split(","))
            nodes.append(Flow(f"[{items}]", line, column, at))
        elif kind == "other":
            if value[0] in "[{":
                nodes.append(Flow(value, line, column, at))
            else:
                nodes.append(Scalar(value, True, line, column, at))
        elif kind == "block":
            # As the flow list it means: its JSON and grid axis are made the same way.
            items = ", ".join(_ITEM_RE.findall(value))
            dash = at + len(match.group("at"))
            nodes.append(Flow(f"[{items}]", line + 1, dash - at + 1, dash))
        elif kind == "single":
            nodes.append(Scalar(value[1:-1].replace("''", "'"), False, line, column, at))
        else:
            nodes.append(Scalar(value[1:-1], False, line, column, at))
    if stop == len(yaml_text):
        return FastPart(nodes, stop, stop)
    # The last entry's value could go on below (a plain scalar spread over lines).
    if len(nodes) > 2:
        return FastPart(nodes[:-2], last_start, stop)
    return FastPart([], 0, stop)


def blank_above(yaml_text: str, start: int) -> str:
    """``yaml_text`` with every character before ``start`` but the line breaks a space."""
    if not start:
        return yaml_text
    lines = yaml_text[:start].split("\n")
    return "\n".join(" " * len(line) for line in lines) + yaml_text[start:]


def squeeze(yaml_text: str, at: int) -> str:
    """``yaml_text`` with the long run of list items on the line at ``at`` blanked out.

    ``name: [1, 2, 3, ...`` that never closes would make libyaml read every item before it
    fails; with ``[1, ␣␣␣ ...`` it fails at once, at the same place for the same reason (the
    parser is in the same state after the run, and everything keeps its offset). A squeezed
    body that reads fine says nothing: the caller then reads the real one.
    """
    match = _OPEN_RUN_RE.match(yaml_text, at)
    if match is None or match.end("run") - match.start("run") < 256:
        return yaml_text
    begin, end = match.span("run")
    return yaml_text[:begin] + " " * (end - begin) + yaml_text[end:]


def join(head: Sequence[Node], root: Node | None) -> Map | None:
    """The fast entries followed by the slow part's mapping (None if it is no mapping)."""
    if not isinstance(root, Map):
        return None
    return Map(root.line, root.column, [*head, *root.children])


# --- JSON --------------------------------------------------------------------------------

_NUMBER: Final = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_NUMBER_REVERSED: Final = r"(?:[0-9]+[+-]?[eE])?(?:[0-9]+\.)?(?:0|[0-9]*[1-9])-?"
_LITERALS: Final = "true|True|TRUE|false|False|FALSE|null|Null|NULL|~"
_LITERALS_REVERSED: Final = "|".join(word[::-1] for word in _LITERALS.split("|"))
_STRUCTURE: Final = "\\[\\]{},:\n"
# Blanks next to `[ ] { } , :` go; blanks inside a scalar (`[a b]`) stay.
_BLANKS_RE: Final = re.compile(f" +(?=[{_STRUCTURE}])|(?<=[{_STRUCTURE}]) +")
# A `"` goes after each opening mark that starts a string (not a number, not a literal)...
_OPEN_QUOTES: Final = tuple(
    (
        re.compile(re.escape(mark) + f"(?!(?:{_NUMBER}|{_LITERALS})[\\]}},\n])(?=[^{_STRUCTURE}])"),
        mark + '"',
    )
    for mark in "[{,:"
)
# ... and, read backwards (where the end of a token is its start), one after each such token.
_CLOSE_QUOTES: Final = tuple(
    (
        re.compile(
            re.escape(mark)
            + f"(?!(?:{_NUMBER_REVERSED}|{_LITERALS_REVERSED})[\\[{{,:\n])(?=[^{_STRUCTURE}])"
        ),
        mark + '"',
    )
    for mark in "]},:"
)
_LITERAL_RES: Final = tuple(
    (word, re.compile(f"(?<=[\\[,:]){re.escape(word)}(?=[\\]}},])"), json_word)
    for word, json_word in (
        ("True", "true"),
        ("TRUE", "true"),
        ("False", "false"),
        ("FALSE", "false"),
        ("Null", "null"),
        ("NULL", "null"),
        ("~", "null"),
    )
)


def flow_json(values: Sequence[Flow]) -> list[str]:
    """The compact JSON of each fast-read flow value, all converted in one pass.

    >>> flow_json([Flow("[1, 0.10, abc, True, 010, {1: a b}]", 1, 1, 0)])
    ['[1,0.10,"abc",true,"010",{"1":"a b"}]']
    """
    text = "\n".join(value.text for value in values)
    if _PRIVATE_USE_RE.search(text):
        raise NotFast
    text = text.replace(", ", ",").replace(": ", ":")
    if " " in text:
        text = _BLANKS_RE.sub("", text)
    for pattern, replacement in _OPEN_QUOTES:
        text = pattern.sub(replacement, text)
    text = text[::-1]
    for pattern, replacement in _CLOSE_QUOTES:
        text = pattern.sub(replacement, text)
    text = text[::-1]
    for word, pattern, json_word in _LITERAL_RES:
        if word in text:
            text = pattern.sub(json_word, text)
    if "{" in text:
        # Keys may repeat: the slow path then says where, as it always has.
        try:
            json.loads("[" + text.replace("\n", ",") + "]", object_pairs_hook=_unique)
        except ValueError:
            raise NotFast from None
    return text.split("\n")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = {key for key, _ in pairs}
    if len(keys) != len(pairs):
        raise NotFast
    return dict(pairs)


def flow_items(value: Flow) -> list[str]:
    """The grid axis of a fast-read flat list: each item's text as written.

    >>> flow_items(Flow("[0.1, a b ,1e-3]", 1, 1, 0))
    ['0.1', 'a b', '1e-3']
    """
    inner = value.text[1:-1]
    if value.text[0] != "[" or "[" in inner or "{" in inner or _PRIVATE_USE_RE.search(inner):
        raise NotFast
    items = [item.strip(" ") for item in inner.split(",")]
    return items if items != [""] else []
