"""What every magic line parser shares: the error it raises, argparse that raises it, the
line's words, value checks, and ``$var`` expansion. Pure: no shell, no I/O.

>>> split_line("app lr=0.1 'name=a b'")
['app', 'lr=0.1', 'name=a b']
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, TypeVar

from IPython.core import error as _ipython_errors

from jobmagic.ipython.args.help import HelpAction, closest, option_strings

__all__ = [
    "Parser",
    "UsageError",
    "add_wait_flags",
    "built",
    "expand_variables",
    "parse_duration_or_date",
    "positive_float",
    "positive_int",
    "split_line",
    "variable",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_P = TypeVar("_P", bound=argparse.ArgumentParser)


class UsageError(_ipython_errors.UsageError):
    """IPython's UsageError (one short paragraph, no traceback, the cell fails) that also
    reaches the notebook's clients.

    IPython shows a plain UsageError by printing it to stderr, so the cell's error as
    papermill and nbclient report it (``ename``/``evalue`` and the traceback lines) is
    empty and a CI log says nothing. This subclass goes through the ordinary traceback path
    instead, with ``_render_traceback_`` giving the message as the whole traceback: the
    notebook still shows one paragraph, and ``evalue`` carries the same text.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"UsageError: {self}"]


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting.

    ``-h``/``--help`` raises :class:`~jobmagic.ipython.args.help.HelpRequested` with the generated
    help; an unknown flag's error names the closest real one.
    """

    def __init__(self, prog: str, **kwargs: Any):
        kwargs["add_help"] = False  # ours raises HelpRequested instead of exiting
        # No prefix abbreviations: `--wa` is a typo to correct, not a flag to guess at.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(prog=prog, **kwargs)
        self.add_argument("-h", "--help", action=HelpAction)

    def error(self, message: str) -> NoReturn:
        raise UsageError(
            f"%{self.prog}: {message}{self._did_you_mean(message)}. "
            f"See %{self.prog}? for the flags."
        )

    def _did_you_mean(self, message: str) -> str:
        unknown = re.findall(r"(?<!\S)(--?[A-Za-z][\w-]*)", message.partition(":")[2])
        if not message.startswith("unrecognized arguments") or not unknown:
            return ""
        flag = unknown[0].partition("=")[0]
        match = closest(flag, option_strings(self), n=1)
        return f" (did you mean {match[0]}?)" if match else ""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%{self.prog}: stopped.")


def expand_variables(line: str, namespace: Mapping[str, Any]) -> str:
    """IPython's ``$name`` / ``{expression}`` expansion of a magic line, in linear time.

    IPython expands a magic's whole line with one formatter call whose cost grows with the
    square of the line's length (15 s for a plain 40 KB line, before any magic code runs).
    The same formatter applied word by word — only to the words that can hold a variable —
    gives the same result in time proportional to the line. A word that cannot be expanded
    stays as written, as IPython leaves a line it cannot expand.

    >>> expand_variables("app lr=$lr tag={name.upper()} '$kept' x=1", {"lr": 0.1, "name": "a"})
    "app lr=0.1 tag=A '$kept' x=1"
    """
    from IPython.utils.text import DollarFormatter

    formatter = DollarFormatter()
    out: list[str] = []
    for word, space in _words(line):
        if "$" in word or "{" in word:
            # IPython's own rule: what cannot be expanded stays as written.
            with contextlib.suppress(Exception):
                word = formatter.vformat(word, args=[], kwargs=namespace)
        out.append(word + space)
    return "".join(out)


def _words(line: str) -> Iterator[tuple[str, str]]:
    """The line's words and the white space after each; a word runs on through quotes and
    ``{…}``, so an expression or a quoted string is never cut."""
    start, depth, quote, index = 0, 0, "", 0
    length = len(line)
    while index < length:
        char = line[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char.isspace() and depth == 0:
            end = index
            while index < length and line[index].isspace():
                index += 1
            yield line[start:end], line[end:index]
            start = index
            continue
        index += 1
    yield line[start:], ""


_SHELL_SPACE = re.compile(r"[ \t\r\n]+")


def split_line(line: str) -> list[str]:
    """Split a magic line like a shell would, with a clear error for unbalanced quotes.

    >>> split_line("app lr=0.1 'name=a b'")
    ['app', 'lr=0.1', 'name=a b']
    """
    if not any(char in line for char in "'\"\\"):
        # Without quotes or escapes a shell splits at shlex's white space (not at every
        # Unicode space, as str.split does); shlex itself takes ~50 µs a word.
        return [word for word in _SHELL_SPACE.split(line) if word]
    import shlex

    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"Could not read the magic line ({exc}). Check its quotes.") from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def variable(text: str) -> str:
    if not _IDENTIFIER.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name")
    return text


def parse_duration_or_date(text: str, *, now: datetime | None = None) -> datetime:
    """``2h``, ``30m``, ``1d``, ``45s`` or ``1w`` ago, or an ISO date(time) -> aware UTC."""
    now = now or datetime.now(timezone.utc)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        amount = float(match.group(1))
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        return now - timedelta(seconds=amount * unit)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration (30m, 2h, 7d) nor a date (2026-11-01)."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a bare date means the user's local midnight
    return parsed.astimezone(timezone.utc)


def add_wait_flags(parser: argparse.ArgumentParser, *, run: str = "the run") -> None:
    """``--wait`` and the flags that go with it, for the magics that start ``run``."""
    add = parser.add_argument
    add(
        "--wait",
        "-w",
        action="store_true",
        help=f"Block until {run} ends, with a status line; the cell fails unless it FINISHED.",
    )
    add(
        "--timeout",
        type=positive_float,
        metavar="S",
        help=f"With --wait: stop waiting after S seconds ({run} keeps going). "
        "Default: JobMagic.wait_timeout, 0 for no limit.",
    )
    add("--logs", action="store_true", help=f"With --wait: print {run}'s logs as they come.")
    add(
        "--cancel-on-interrupt",
        dest="cancel_on_interrupt",
        action="store_true",
        help=f"With --wait: interrupting the kernel also terminates {run}.",
    )


@functools.cache
def built(factory: Callable[[], _P]) -> _P:
    """The parser ``factory`` makes, built once: building one costs more than parsing a line.

    Shared, so callers only parse with it (argparse restores what parsing changes); whoever
    needs to change a parser builds their own from its factory.
    """
    return factory()
