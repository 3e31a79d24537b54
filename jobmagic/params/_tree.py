"""The value tree: just what YAML read, with positions, built from PyYAML's events.

Events rather than ``yaml.compose``: they say whether a tag or anchor was written, and
building the tree with an explicit stack keeps deep nesting from recursing. What a body may
not use (anchors, aliases, tags, a second document, nesting past the limit) is refused here,
at the first event that shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, cast

import yaml

from jobmagic.errors import ParamsError
from jobmagic.params._limits import MAX_DEPTH
from jobmagic.params._source import SURROGATE_RE, Source, short

__all__ = [
    "DEPTH_MESSAGE",
    "Flow",
    "Map",
    "Node",
    "Scalar",
    "Seq",
    "build",
    "check_node_event",
    "merge_key_error",
]

DEPTH_MESSAGE: Final = f"the value is nested more than {MAX_DEPTH} levels deep; flatten it"
_STR_TAG: Final = "tag:yaml.org,2002:str"


@dataclass(slots=True)
class Scalar:
    value: str  # YAML's value of the scalar, with placeholder sentinels still in
    implicit: bool  # plain and untagged: YAML would guess its type, and "" means "nothing"
    line: int
    column: int
    offset: int  # of its start in the body


@dataclass(slots=True)
class Seq:
    line: int
    column: int
    children: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class Map:
    line: int
    column: int
    children: list[Node] = field(default_factory=list)  # key, value, key, value, ...

    def pairs(self) -> Iterator[tuple[Node, Node]]:
        return zip(self.children[0::2], self.children[1::2], strict=True)


@dataclass(slots=True)
class Flow:
    """A one-line flow value read by :mod:`jobmagic.params._lines`: its text, not its tree."""

    text: str  # as written, e.g. "[1, 2.50, abc]", in the fast grammar
    line: int
    column: int
    offset: int


Node = Scalar | Seq | Map | Flow


def build(events: Iterable[yaml.Event], source: Source) -> Node | None:
    """The tree of ``events``; refused at the first collection nested too deep.

    The hot loop of every parse read by libyaml (one pass per event): event kinds are told
    apart by exact type, the commonest first.
    """
    root: Node | None = None
    stack: list[Seq | Map] = []
    documents = 0
    first_line = source.first_line
    for event in events:
        kind = type(event)
        node: Node
        mark: Any = event.start_mark  # both parsers always set it
        if kind is yaml.ScalarEvent:
            scalar = cast(yaml.ScalarEvent, event)
            if scalar.anchor is not None or scalar.tag is not None:
                check_node_event(scalar, source)
            node = _scalar(scalar, source)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            # The top-level mapping counts too, so a value may nest MAX_DEPTH levels.
            if len(stack) > MAX_DEPTH:
                raise source.mark_error(mark, DEPTH_MESSAGE)
            start = cast(yaml.CollectionStartEvent, event)
            if start.anchor is not None or start.tag is not None:
                check_node_event(start, source)
            cls = Map if kind is yaml.MappingStartEvent else Seq
            stack.append(cls(mark.line + first_line, mark.column + 1))
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            node = stack.pop()
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise source.mark_error(
                    mark,
                    "the cell body holds more than one YAML document; remove the "
                    "`---` line and put all params in one mapping",
                )
            continue
        elif kind is yaml.AliasEvent:
            written = source.written_at(mark.index)
            raise source.mark_error(
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


def check_node_event(event: yaml.NodeEvent, source: Source) -> None:
    """Refuse an anchor, or a tag other than ``!!str``, on a node."""
    mark: Any = event.start_mark
    if event.anchor is not None:
        raise source.mark_error(
            mark,
            f"`&{short(event.anchor)}` is a YAML anchor, which a cell body cannot use; "
            "remove it, or quote the value if `&` is part of the text",
        )
    tag = getattr(event, "tag", None)
    # `!!str` only says "this is text", which every value is anyway.
    if tag is not None and not (isinstance(event, yaml.ScalarEvent) and tag == _STR_TAG):
        raise source.mark_error(
            mark,
            f"`{source.written_at(mark.index)}` is a YAML tag, which a cell body cannot use "
            "(values are sent as text); remove it, or quote the value if it is text",
        )


def _scalar(event: yaml.ScalarEvent, source: Source) -> Scalar:
    mark: Any = event.start_mark
    value = event.value
    if event.style == '"' and SURROGATE_RE.search(value):
        # JSON-style "\ud83d\ude00" escapes: join the pairs; a lone one is not text.
        try:
            value = value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise source.mark_error(
                mark,
                "this string has a lone surrogate escape (`\\uD800`-`\\uDFFF`); write the "
                "character itself or its `\\U` escape",
            ) from None
    implicit = not event.style and event.tag is None  # libyaml says "" for plain
    return Scalar(value, implicit, mark.line + source.first_line, mark.column + 1, mark.index)


def merge_key_error(key: Scalar) -> ParamsError:
    """The error for a ``<<`` key."""
    return ParamsError(
        "YAML merge keys (`<<`) cannot be used in a cell body; write the params out",
        line=key.line,
        column=key.column,
    )
