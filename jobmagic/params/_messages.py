"""PyYAML's errors in one sentence each: a table of what is matched → what is said, and where.

PyYAML's own text is multi-line, full of parser jargon, and would show the placeholder
sentinels; the characters quoted here are always read from the user's text instead. The
first row whose tests all hold gives the message; the last row always holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from string import Template
from typing import Any, Final

import yaml

from jobmagic.errors import ParamsError
from jobmagic.params._source import Source

__all__ = ["RULES", "Rule", "yaml_error"]

_END_LINE_RE: Final = re.compile(r"^\.\.\.[ \t]*(?:#.*)?$", re.MULTILINE)
_FIELD_RE: Final = re.compile(r"\$(\w+)")
# Rule.at → the attribute of _Facts holding that mark.
_MARKS: Final = {"problem": "mark", "opened": "opened", "backslash": "backslash"}


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: PyYAML's error matches it when every test given holds.

    ``problem``: the problem starts with one of these; ``problem_has``: contains one of these;
    ``context``: the context contains one of these; ``when``: a true-or-false fact of
    :class:`_Facts` (a name). ``at`` is the mark the message points to (``"problem"``, the
    ``"opened"`` context, or the ``"backslash"`` of an escape) and ``message`` a
    :class:`string.Template` over the facts.
    """

    message: str
    at: str = "problem"
    problem: tuple[str, ...] = ()
    problem_has: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    when: str = ""


_BLOCK_END: Final = ("expected <block end>", "expected '<document start>'")
_FLOW_END: Final = ("expected ',' or ']'", "expected ',' or '}'")
_NODE: Final = ("expected the node content", "mapping keys are not allowed")
_INDICATORS: Final = ("an alias", "an anchor", "a tag", "a block scalar")

#: Every message, in the order they are tried.
RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "the `$quote` opened here is never closed; add the closing `$quote`",
        at="opened",
        context=("quoted scalar",),
        when="ends_early_or_at_end",
    ),
    Rule(
        "`$escape` is not a valid escape inside double quotes; use single quotes, or write "
        "`\\\\` for a backslash",
        at="backslash",
        context=("quoted scalar",),
        problem_has=("escape",),
    ),
    Rule(
        'unexpected `:` here; quote a value that contains `: ` (e.g. `note: "a: b"`), or start '
        "every param name in the same column",
        problem=("mapping values are not allowed",),
    ),
    Rule(
        "this line has no `:` after the param name; write `name: value`",
        at="opened",
        problem=("could not find expected ':'",),
    ),
    Rule(
        "YAML does not allow a tab here; use spaces",
        problem_has=("cannot start any token",),
        when="at_tab",
    ),
    Rule(
        "a value cannot start with `$char`; put the value in quotes",
        problem_has=("cannot start any token",),
    ),
    Rule(
        'a value starting with `$indicator` must be quoted, e.g. `"$written"`',
        at="opened",
        context=_INDICATORS,
    ),
    Rule(
        "a line starting with `%` is a YAML directive; quote the value",
        at="opened",
        context=("directive",),
    ),
    Rule(
        "a `- ` list cannot start on the line of its name; put the items on the next lines, "
        "indented, or write `[a, b]`",
        problem=("sequence entries are not allowed",),
    ),
    Rule(
        "a param name is missing before `:`; write `name: value`",
        problem=_BLOCK_END,
        when="at_colon",
    ),
    Rule(
        "there is text after the closing quote; put the whole value inside the quotes",
        problem=_BLOCK_END,
        when="after_quote",
    ),
    Rule(
        "there is text after the closing `$before`; quote the whole value if it is text",
        problem=_BLOCK_END,
        when="after_bracket",
    ),
    Rule(
        "nothing can follow a `...` (end of document) line; remove that line",
        problem=_BLOCK_END,
        when="after_end_line",
    ),
    Rule(
        "this line does not line up with the lines above; start every param name in the same "
        "column, one `name: value` per line",
        problem=_BLOCK_END,
    ),
    Rule(
        "this `{{` has no closing `}}` on its line; write `{{ name }}`",
        at="opened",
        problem=_FLOW_END,
        when="open_placeholder",
    ),
    Rule(
        "this `$bracket` is never closed; add `$closing`, or quote the value if the bracket "
        "is text",
        at="opened",
        problem=_FLOW_END,
        when="flow_ends_early",
    ),
    Rule(
        "this `$bracket` is not closed on its line; add the closing `$closing` (or quote the "
        "value if the bracket is text)",
        at="opened",
        problem=_FLOW_END,
        when="on_a_later_line",
    ),
    Rule(
        "the items inside `$bracket $closing` must be separated by commas; add one, or quote "
        "the value if the bracket is text",
        problem=_FLOW_END,
    ),
    Rule(
        "the cell body ends in the middle of a value; close every `[` and `{`",
        problem=_NODE,
        when="at_end",
    ),
    Rule("a value cannot start with `$char`; put the value in quotes", problem=_NODE),
    Rule(
        "a `[` or `{` is not closed, or a line inside it is not indented; close it, or quote "
        "the value",
        problem=("invalid indentation or unclosed",),
    ),
    Rule(
        "YAML tags cannot be used in a cell body; remove the tag or quote the value",
        problem_has=("tag handle",),
    ),
    Rule(
        "the cell body is not valid YAML here; check the indentation, the `name: value` pairs "
        "and the quotes"
    ),
)


def yaml_error(err: yaml.MarkedYAMLError, source: Source) -> ParamsError:
    """One sentence for a PyYAML error, at the most useful of its two marks.

    >>> err = yaml.MarkedYAMLError(problem="mapping values are not allowed here",
    ...                            problem_mark=yaml.Mark("", 6, 0, 6, None, 0))
    >>> print(yaml_error(err, Source("note: a: b", first_line=2)))
    line 2, column 7: unexpected `:` here; quote a value that contains `: ` (e.g. \
`note: "a: b"`), or start every param name in the same column
    """
    facts = _Facts(err, source)
    rule = next(rule for rule in RULES if facts.matches(rule))
    mark = getattr(facts, _MARKS[rule.at])
    quoted = {name: str(getattr(facts, name)) for name in _FIELD_RE.findall(rule.message)}
    return source.mark_error(mark, Template(rule.message).substitute(quoted))


class _Facts:
    """What the rules test and quote about one error, each worked out when first asked for."""

    def __init__(self, err: yaml.MarkedYAMLError, source: Source) -> None:
        self.source = source
        self.problem = err.problem or ""
        self.context = err.context or ""
        self.mark: Any = err.problem_mark or err.context_mark
        self.opened: Any = err.context_mark or self.mark

    def matches(self, rule: Rule) -> bool:
        return (
            (not rule.problem or self.problem.startswith(rule.problem))
            and (not rule.problem_has or any(part in self.problem for part in rule.problem_has))
            and (not rule.context or any(part in self.context for part in rule.context))
            and (not rule.when or bool(getattr(self, rule.when)))
        )

    # --- what the messages quote ------------------------------------------------------

    @cached_property
    def char(self) -> str:
        return self.source.char_at(self.mark)

    @cached_property
    def quote(self) -> str:
        return self.source.char_at(self.opened) or "quote"

    @cached_property
    def before(self) -> str:
        return self.source.before(self.mark)

    @cached_property
    def bracket(self) -> str:
        return self.source.char_at(self.opened)

    @cached_property
    def closing(self) -> str:
        return "]" if self.bracket == "[" else "}"

    @cached_property
    def indicator(self) -> str:
        return self.source.char_at(self.opened)

    @cached_property
    def written(self) -> str:
        text = self.source.written_at(self.opened.index, stop="\r\n#")
        return text.strip().replace('"', "")

    @cached_property
    def backslash(self) -> Any:
        return self.source.back(self.mark, "\\")

    @cached_property
    def escape(self) -> str:
        return self.source.written_at(self.backslash.index, stop=' \t\r\n"')[:2]

    # --- what the rules test ----------------------------------------------------------

    @cached_property
    def ends_early(self) -> bool:
        return "end of stream" in self.problem or "document separator" in self.problem

    @cached_property
    def ends_early_or_at_end(self) -> bool:
        at_end = self.mark is not None and self.mark.index >= len(self.source.text)
        return self.ends_early or at_end

    @cached_property
    def flow_ends_early(self) -> bool:
        return self.ends_early or "<stream end>" in self.problem

    @cached_property
    def open_placeholder(self) -> bool:
        return (
            self.flow_ends_early
            and self.bracket == "{"
            and self.source.char_at(self.opened, 1) == "{"
        )

    @cached_property
    def on_a_later_line(self) -> bool:
        # The next line's `name:` is where PyYAML notices; the bracket is the problem.
        return (
            self.mark is not None and self.opened is not None and self.mark.line > self.opened.line
        )

    @cached_property
    def at_tab(self) -> bool:
        return self.source.char_at(self.mark, raw=True) == "\t"

    @cached_property
    def at_colon(self) -> bool:
        return self.char == ":"

    @cached_property
    def at_end(self) -> bool:
        return not self.char

    @cached_property
    def after_quote(self) -> bool:
        return self.before in ("'", '"')

    @cached_property
    def after_bracket(self) -> bool:
        return self.before in ("]", "}")

    @cached_property
    def after_end_line(self) -> bool:
        end = min(self.mark.index, len(self.source.text)) if self.mark is not None else 0
        return _END_LINE_RE.search(self.source.text, 0, end) is not None
