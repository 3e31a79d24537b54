"""``{{ name }}`` placeholders: set aside before YAML reads the body, filled in after.

Each ``{{ ... }}`` (and each ``\\{{`` escape) is swapped for a *sentinel of the same length*
made of private-use characters the body does not contain. A sentinel is a plain YAML scalar,
so ``lr: {{ lr }}`` parses, no variable's value can break the YAML, and because lengths
match, every mark PyYAML reports still points at the user's text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jobmagic.errors import ParamsError
from jobmagic.params._source import BREAK_RE, SURROGATE_RE, Source, short

__all__ = ["ESCAPE", "Placeholder", "Placeholders", "placeholder_spans", "scan_spans"]

#: Written before ``{{`` to send the braces as they are.
ESCAPE: Final = "\\{{"

# A placeholder (``{{`` to the first ``}}``) stays on one line; see placeholder_spans.
_OPEN_RE: Final = re.compile(r"\\\{\{|\{\{")
# The usual case, found at C speed: escapes and placeholders with no brace inside them.
_SIMPLE_RE: Final = re.compile(r"\\\{\{|\{\{[^{}\n\r\x85\u2028\u2029]*\}\}")
_HEX_ESCAPE_RE: Final = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))")
# Sentinels are built from private-use characters the body does not contain.
_PRIVATE_USE: Final = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_BASE: Final = 64


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``{{ ... }}`` or ``\\{{`` as written, and where it starts in the body."""

    offset: int
    text: str

    @property
    def name(self) -> str:
        return self.text[2:-2].strip()


class Placeholders:
    """The placeholders of one body, the text YAML reads instead, and the namespace."""

    def __init__(
        self, source: Source, namespace: Mapping[str, Any] | None, *, templating: bool = True
    ) -> None:
        self.source = source
        self.namespace = namespace
        self._spans: list[tuple[int, int]] = []
        #: The body with each placeholder replaced by its sentinel.
        self.yaml_text = source.text
        self._sentinel_re: re.Pattern[str] | None = None
        self._digit_value: dict[str, int] = {}
        if templating and "{{" in source.text:
            self._set_aside()

    def _set_aside(self) -> None:
        text = self.source.text
        spans = placeholder_spans(text)
        if not spans:
            return
        start, pad, *digits = _free_characters(text, _BASE + 2)
        self._digit_value = {ch: i for i, ch in enumerate(digits)}
        pieces: list[str] = []
        append = pieces.append
        last = 0
        for index, (begin, end) in enumerate(spans):
            encoded = digits[index] if index < _BASE else _encode(index, digits)
            if 1 + len(encoded) > end - begin:
                raise ParamsError("the cell body has too many `{{ }}` placeholders")
            append(text[last:begin])
            append(start + encoded + pad * (end - begin - 1 - len(encoded)))
            last = end
        pieces.append(text[last:])
        self._spans = spans
        self.yaml_text = "".join(pieces)
        digit_class = "".join(re.escape(ch) for ch in digits)
        self._sentinel_re = re.compile(f"{re.escape(start)}([{digit_class}]+){re.escape(pad)}*")

    def error_at(self, placeholder: Placeholder, message: str) -> ParamsError:
        return self.source.error_at(placeholder.offset, message)

    def in_value(self, value: str) -> list[Placeholder]:
        """The placeholders inside a value YAML read."""
        if self._sentinel_re is None:
            return []
        return [self._decode(m) for m in self._sentinel_re.finditer(value)]

    def _decode(self, match: re.Match[str]) -> Placeholder:
        begin, end = self._spans[self._index(match.group(1))]
        return Placeholder(begin, self.source.text[begin:end])

    def _index(self, digits: str) -> int:
        if len(digits) == 1:
            return self._digit_value[digits]
        index = 0
        for ch in digits:
            index = index * _BASE + self._digit_value[ch]
        return index

    def fill(self, value: str) -> str:
        """``value`` with every placeholder replaced by its variable's text."""
        if self._sentinel_re is None or not self._sentinel_re.search(value):
            return value
        # Split, not sub: a value may hold thousands of placeholders, and each variable's
        # text is worked out once per value, however often it is used.
        parts = self._sentinel_re.split(value)
        done: dict[str, str] = {}
        source = self.source.text
        for at in range(1, len(parts), 2):
            begin, end = self._spans[self._index(parts[at])]
            written = source[begin:end]
            text = done.get(written)
            if text is None:
                text = done[written] = self._fill_one(Placeholder(begin, written))
            parts[at] = text
        return "".join(parts)

    def _fill_one(self, placeholder: Placeholder) -> str:
        if placeholder.text == ESCAPE:
            return "{{"
        return self._text_of(self._lookup(placeholder), placeholder, item=False)

    def _text_of(self, value: Any, placeholder: Placeholder, *, item: bool) -> str:
        """``str(value)`` of the variable (or of an ``item`` of it), refused if not text."""
        what = f"an item of `{placeholder.name}`" if item else placeholder.name
        try:
            text = str(value)
        except Exception as err:  # a user object's __str__ may raise anything
            if item:
                message = (
                    f"str() of {what} failed ({type(err).__name__}); convert the items in a "
                    "Python cell first"
                )
            else:
                message = (
                    f"str({what}) failed ({type(err).__name__}) for `{placeholder.text}`; "
                    "convert it in a Python cell first"
                )
            raise self.error_at(placeholder, message) from None
        if not isinstance(text, str) or SURROGATE_RE.search(text):
            if item:
                message = f"{what} does not turn into valid text"
            else:
                message = f"`{what}` does not turn into valid text for `{placeholder.text}`"
            raise self.error_at(placeholder, message)
        return text

    def _lookup(self, placeholder: Placeholder) -> Any:
        name = placeholder.name
        if not name.isidentifier():
            raise self.error_at(
                placeholder,
                f"only a variable name can go inside `{{{{ }}}}`, not `{short(name)}`; compute "
                f"the value in a Python cell first, or write `\\{{{{` to send the braces as "
                "they are",
            )
        namespace = self.namespace if self.namespace is not None else {}
        if name not in namespace:
            where = "in the notebook" if self.namespace is not None else "(no namespace given)"
            raise self.error_at(
                placeholder,
                f"no variable `{name}` {where} for `{placeholder.text}`; define it, or write "
                f"`\\{placeholder.text}` to send the braces as they are",
            )
        return namespace[name]

    def list_axis(self, value: str, param: str) -> list[str] | None:
        """The grid axis of a value that is exactly one placeholder of a list/tuple/range."""
        if self._sentinel_re is None:
            return None
        match = self._sentinel_re.fullmatch(value)
        if match is None:
            return None
        placeholder = self._decode(match)
        if placeholder.text == ESCAPE:
            return None
        variable = self._lookup(placeholder)
        if not isinstance(variable, (list, tuple, range)):
            return None
        if len(variable) == 0:
            raise self.error_at(
                placeholder,
                f"`{placeholder.name}` is an empty {type(variable).__name__}, so the grid would "
                f"have no runs for `{param}`; give it at least one value",
            )
        return [self._text_of(entry, placeholder, item=True) for entry in variable]


def placeholder_spans(text: str) -> list[tuple[int, int]]:
    r"""(start, end) of each ``\{{`` escape and each ``{{`` up to the first ``}}`` on its line.

    Left to right, in linear time: a lazy regex for this rescans to the end of the line from
    every ``{`` of a long ``{{{{...`` run with no ``}}``, which is quadratic.

    >>> placeholder_spans("a: {{ x }} \\{{ {{{")
    [(3, 10), (11, 14)]
    """
    spans = [match.span() for match in _SIMPLE_RE.finditer(text)]
    if text.count("{") == 2 * len(spans):
        # Every brace is in one of them, so each is what the scan would find.
        return spans
    return scan_spans(text)


def scan_spans(text: str) -> list[tuple[int, int]]:
    """:func:`placeholder_spans` for any text, one opening at a time."""
    spans: list[tuple[int, int]] = []
    pos = 0
    stop = -1  # where the current line ends: each line's break is looked for once
    dead = -1  # up to here, the line holds no `}}` after a `{{` that found none
    while (match := _OPEN_RE.search(text, pos)) is not None:
        begin = match.start()
        if match.group() == ESCAPE:
            spans.append((begin, match.end()))
            pos = match.end()
            continue
        pos = begin + 1
        if begin < dead:  # only an escape can still match before the line ends
            escape = text.find(ESCAPE, begin, dead)
            pos = escape if escape >= 0 else dead
            continue
        if begin + 2 > stop:
            brk = BREAK_RE.search(text, begin + 2)
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
