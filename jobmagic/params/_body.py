"""One cell body being read: its source, its placeholders, its tree, and its named entries.

:class:`Body` ties the single-job modules together; :func:`flat_params` gives the params of
``%%trigger_job``, :func:`jobmagic.params._grid.grid_axes` those of ``--grid``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jobmagic.errors import ParamsError
from jobmagic.params import _lines
from jobmagic.params._compose import compose
from jobmagic.params._fields import no_value_message
from jobmagic.params._json import to_json
from jobmagic.params._limits import check_text_size
from jobmagic.params._names import is_valid_name, name_message
from jobmagic.params._placeholders import Placeholders
from jobmagic.params._source import Source
from jobmagic.params._tree import Flow, Map, Node, Scalar, Seq, merge_key_error

__all__ = ["Body", "flat_params"]


class Body:
    """A cell body read for its params; ``fast=False`` reads it with PyYAML's parser alone.

    ``lines`` is whether :mod:`~jobmagic.params._lines` reads what it can first; a reader
    that meets a value the fast path cannot finish turns it off and reads again.
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
        self.lines = fast
        # Error lines count as the user sees them: in a cell, the body starts on line 2.
        self.source = Source(text, first_line)
        self.placeholders = Placeholders(self.source, namespace, templating=templating)
        self.fill = self.placeholders.fill

    def compose(self) -> Node | None:
        """The document's tree: the fast lines, then YAML from where they end."""
        yaml_text = self.placeholders.yaml_text
        if not (self.lines and _lines.ENABLED):
            return compose(self.source, yaml_text, fast=self.fast)
        part = _lines.read_lines(yaml_text, self.source)
        if part.restart == len(yaml_text):
            return Map(part.nodes[0].line, 1, part.nodes) if part.nodes else None
        rest = _lines.blank_above(yaml_text, part.restart)
        squeezed = _lines.squeeze(rest, part.stop)
        if squeezed is not rest:
            compose(self.source, squeezed)  # raises the body's error quickly, if it has one
        root = _lines.join(part.nodes, compose(self.source, rest))
        return root if root is not None else compose(self.source, yaml_text)

    def entries(self) -> list[tuple[str, Node]]:
        """(name, value) of the top-level mapping, names checked, in the order written."""
        root = self.compose()
        if root is None or (isinstance(root, Scalar) and root.implicit and root.value == ""):
            return []
        if not isinstance(root, Map):
            raise ParamsError(_not_mapping_message(root), line=root.line, column=root.column)
        first_line: dict[str, int] = {}
        entries: list[tuple[str, Node]] = []
        for key, value in root.pairs():
            name = self._param_name(key)
            if name in first_line:
                raise ParamsError(
                    f"`{name}` is given twice (first on line {first_line[name]}); keep one of them",
                    line=key.line,
                    column=key.column,
                )
            first_line[name] = key.line
            if isinstance(value, Scalar) and value.implicit and value.value == "":
                raise ParamsError(
                    no_value_message(name),
                    line=key.line,
                    column=key.column,
                )
            entries.append((name, value))
        return entries

    def _param_name(self, key: Node) -> str:
        if not isinstance(key, Scalar):
            raise ParamsError(
                "a param name must be plain text, not a list or mapping; write `name: value`",
                line=key.line,
                column=key.column,
            )
        if key.implicit and key.value == "<<":
            raise merge_key_error(key)
        found = self.placeholders.in_value(key.value)
        if found:
            raise self.placeholders.error_at(
                found[0],
                f"`{found[0].text}` is in a param name; placeholders can only go in values",
            )
        if not is_valid_name(key.value):
            raise ParamsError(name_message(key.value), line=key.line, column=key.column)
        return key.value

    def json(self, node: Node, param: str) -> str:
        """Compact JSON of a value of ``param``, placeholders filled in."""
        return to_json(node, param, self.fill)


def flat_params(body: Body) -> dict[str, str]:
    """The params of a body: scalars as their text, lists and mappings as JSON."""
    entries = body.entries()
    flows = [value for _, value in entries if isinstance(value, Flow)]
    try:
        flow_texts = iter(_lines.flow_json(flows) if flows else ())
    except _lines.NotFast:
        body.lines = False
        return flat_params(body)
    params: dict[str, str] = {}
    for name, value in entries:
        if isinstance(value, Scalar):
            params[name] = body.fill(value.value)
        elif isinstance(value, Flow):
            params[name] = next(flow_texts)
        else:
            params[name] = body.json(value, name)
    return params


def _not_mapping_message(root: Node) -> str:
    if isinstance(root, Seq):
        return (
            "the cell body must be a YAML mapping of param name to value, not a list; "
            "write `name: value` lines, e.g. `lr: 0.01`"
        )
    if isinstance(root, Scalar) and re.match(r"[a-z][a-z0-9_-]*:\S", root.value):
        return (
            "the cell body must be a YAML mapping of param name to value; put a space after "
            "the `:`, e.g. `lr: 0.01`"
        )
    return "the cell body must be a YAML mapping of param name to value, e.g. `lr: 0.01`"
