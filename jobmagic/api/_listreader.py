"""A JSON answer's list read item by item as it arrives, up to a number of characters.

``GET /logs`` sizes a page in lines, and one line can be megabytes: a page of a few hundred
lines after a run of short ones could hold hundreds of megabytes. A :class:`ListReader`
is fed the answer's bytes as they come and parses the items of its ``{"data": [...]}`` one
by one; once the items read hold ``max_chars`` characters it says so, and the client leaves
the rest of the answer unread. At least one item is read whole, so a line is never cut.
An answer of another shape is kept whole and parsed at the end. Pure: no I/O.

>>> reader = ListReader(max_chars=20)
>>> reader.feed(b'{"data": [{"log": "one"}, {"lo'), reader.feed(b'g": "two"}, {"log": "3"}]}')
(False, True)
>>> reader.result()
{'data': [{'log': 'one'}, {'log': 'two'}], 'jobmagic.cut': True}
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

__all__ = ["CUT", "ListReader"]

#: The key a cut answer carries (``True``): items beyond the budget were left unread.
CUT = "jobmagic.cut"

_HEAD = re.compile(r'\s*\{\s*"data"\s*:\s*\[')
_GAP = re.compile(r"[\s,]*")
_STRUCTURE = re.compile(r'["{}\[\]]')
_IN_STRING = re.compile(r'["\\]')
#: Text read before giving up on finding ``{"data": [`` at the start.
_HEAD_LIMIT = 256


class ListReader:
    """Parses the items of an answer ``{"data": [...]}`` as its bytes are fed."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._head = ""  # text before the list's "[" is found
        self._raw: list[bytes] = []  # the bytes so far, until the list's start is found
        self._whole = False  # another shape: every byte is kept and parsed at the end
        self._started = False
        self._pieces: list[str] = []  # the text of the item being read
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self.items: list[Any] = []
        self.chars = 0
        self.cut = False
        self.done = False
        self._error: ValueError | None = None

    def feed(self, chunk: bytes) -> bool:
        """Take the answer's next bytes; True once it needs no more (the list ended, or
        its items reached ``max_chars``)."""
        if self.done:
            return True
        if self._whole or not self._started:
            self._raw.append(chunk)
        if self._whole:
            return False
        text = self._decoder.decode(chunk)
        if not self._started:
            self._head += text
            found = _HEAD.match(self._head)
            if found is None:
                # Only a prefix of the head so far, or an answer of another shape.
                self._whole = len(self._head) > _HEAD_LIMIT or not _could_start(self._head)
                return False
            self._started = True
            self._raw = []
            text, self._head = self._head[found.end() :], ""
        try:
            return self._take(text)
        except ValueError as exc:  # not JSON: said by result(), as for a body read whole
            self._error = exc
            self.done = True
            return True

    def result(self) -> Any:
        """The answer: ``{"data": items}`` (with :data:`CUT` when cut), or the whole body of
        another shape. Raises ``ValueError`` for an answer that ended early or is not JSON."""
        if self._whole or not self._started:
            return json.loads(b"".join(self._raw))
        if self._error is not None:
            raise self._error
        if not self.done:
            raise ValueError("the answer ended inside its list")
        return {"data": self.items, CUT: True} if self.cut else {"data": self.items}

    def _take(self, text: str) -> bool:
        position, end = 0, len(text)
        while position < end:
            if self._depth == 0 and not self._pieces:
                position = _GAP.match(text, position).end()  # type: ignore[union-attr]
                if position >= end:
                    return False
                if text[position] == "]":
                    self.done = True
                    return True
                if text[position] not in "{[":
                    raise ValueError("an item of the list is not an object")
            closed = self._scan(text, position)
            if closed is None:
                self._pieces.append(text[position:])
                return False
            self._pieces.append(text[position:closed])
            item = "".join(self._pieces)
            self._pieces = []
            self.items.append(json.loads(item))
            self.chars += len(item)
            position = closed
            if self.chars >= self.max_chars:
                self.done = self.cut = True
                return True
        return False

    def _scan(self, text: str, position: int) -> int | None:
        """Where the item being read closes in ``text`` (the index after it), or None when
        it goes on in the next chunk; strings are skipped by regex, not char by char."""
        while position < len(text):
            if self._escaped:
                self._escaped = False
                position += 1
            elif self._in_string:
                found = _IN_STRING.search(text, position)
                if found is None:
                    return None
                position = found.end()
                if found.group() == "\\":
                    self._escaped = True
                else:
                    self._in_string = False
            else:
                found = _STRUCTURE.search(text, position)
                if found is None:
                    return None
                position = found.end()
                mark = found.group()
                if mark == '"':
                    self._in_string = True
                elif mark in "{[":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        return position
        return None


def _could_start(text: str) -> bool:
    """Whether ``text`` may still grow into ``{"data": [`` (spaces aside).

    >>> _could_start(' { "da'), _could_start('{"pagination"')
    (True, False)
    """
    squeezed = "".join(text.split())
    return '{"data":['.startswith(squeezed)
