"""Help for the magics, generated from their argparse parsers (no I/O, no shell).

As IPython's ``@magic_arguments`` does, a magic's ``__doc__`` — what ``%magic?``
shows — is built from the parser that reads its line, so the two cannot drift:
a flag added to a parser appears in the help, with its ``help=`` text and its
default. ``-h`` / ``--help`` on the magic line prints the same text.

>>> parser = argparse.ArgumentParser(prog="demo", add_help=False)
>>> _ = parser.add_argument("--wait", action="store_true", help="Block until the run ends.")
>>> print(format_flags(parser))
Flags:
  --wait  Block until the run ends. Default: off.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

__all__ = [
    "HelpAction",
    "HelpRequested",
    "closest",
    "documented",
    "flag_actions",
    "format_flags",
    "format_help",
    "format_usage",
    "option_strings",
    "positional_actions",
]

F = TypeVar("F", bound=Callable[..., Any])

_WIDTH = 88
_FLAG_COLUMN = 26


class HelpRequested(Exception):
    """``-h``/``--help`` was on the line: ``text`` is the parser's help; nothing else runs."""

    def __init__(self, text: str):
        self.text = text
        super().__init__(text)


class HelpAction(argparse.Action):
    """``-h``/``--help``: stops parsing with :class:`HelpRequested` (argparse would exit)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        kwargs.setdefault("help", "Show this help and do nothing else.")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> NoReturn:
        raise HelpRequested(format_help(parser))


def flag_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's options (``--wait``, ``-o``…) in the order they were added, help last."""
    # argparse has no public list of its actions; every help formatter reads this one.
    flags = [a for a in parser._actions if a.option_strings]
    return sorted(flags, key=lambda a: isinstance(a, HelpAction))


def positional_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's positional arguments, in order."""
    return [a for a in parser._actions if not a.option_strings]


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every spelling of every flag, long ones first within a flag."""
    return [s for a in flag_actions(parser) for s in _spellings(a)]


def _spellings(action: argparse.Action) -> list[str]:
    return sorted(action.option_strings, key=lambda s: (not s.startswith("--"), s))


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if isinstance(action.metavar, str):
        name = action.metavar
    elif action.choices:
        name = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        name = action.dest.upper()
    return f"{name} [{name} ...]" if action.nargs == "+" else name


def _default_text(action: argparse.Action) -> str:
    """`` Default: …`` unless the help text already says (a default from a setting, say)."""
    text = action.help or ""
    if "default" in text.lower() or action.default is argparse.SUPPRESS:
        return ""
    if action.nargs == 0:
        return " Default: off." if not action.default else " Default: on."
    if action.default in (None, [], ()):
        return " Default: none."
    return f" Default: {action.default}."


def format_usage(parser: argparse.ArgumentParser, *, prefix: str = "%") -> str:
    """One synopsis, wrapped: ``%prog POSITIONALS [--flag VALUE] …``."""
    parts = [prefix + (parser.prog or "")]
    for action in positional_actions(parser):
        parts.append(_positional_synopsis(action))
    for action in flag_actions(parser):
        if isinstance(action, HelpAction):
            continue  # every magic has it; the flag list says so
        spelling = _spellings(action)[0]
        metavar = _metavar(action)
        parts.append(f"[{spelling} {metavar}]" if metavar else f"[{spelling}]")
    # A no-break space inside each part keeps "[--command CMD]" on one line.
    wrapped = textwrap.fill(
        " ".join(p.replace(" ", "\xa0") for p in parts if p),
        width=_WIDTH,
        initial_indent="Usage: ",
        subsequent_indent=" " * (len("Usage: ") + len(parts[0]) + 1),
        break_on_hyphens=False,
        break_long_words=False,
    )
    return wrapped.replace("\xa0", " ")


def _positional_synopsis(action: argparse.Action) -> str:
    name = _metavar(action) if action.nargs not in ("?", "*") else ""
    if action.nargs == "?":
        return f"[{_metavar(action)}]"
    if action.nargs == "*":
        metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        return f"[{metavar}]" if "..." in metavar else f"[{metavar} ...]"
    return name


def _entry(label: str, text: str, width: int) -> list[str]:
    """One item's line(s): the label, then its text wrapped in the right-hand column (on
    the next line when the label is wider than the column)."""
    indent = " " * (width + 4)
    lines = textwrap.wrap(text, width=max(_WIDTH - len(indent), 20)) or [""]
    if len(label) <= width:
        first = f"  {label:<{width}}  {lines[0]}".rstrip()
        return [first, *(indent + line for line in lines[1:])]
    return [f"  {label}", *(indent + line for line in lines)]


def _labelled(actions: Sequence[argparse.Action]) -> list[tuple[str, str]]:
    items = []
    for action in actions:
        if action.option_strings:
            metavar = _metavar(action)
            label = ", ".join(_spellings(action)) + (f" {metavar}" if metavar else "")
            items.append((label, (action.help or "") + _default_text(action)))
        else:
            label = action.metavar if isinstance(action.metavar, str) else action.dest
            items.append((label, action.help or ""))
    return items


def format_flags(parser: argparse.ArgumentParser) -> str:
    """The arguments, then the flags: one per line, what it does and its default."""
    sections = [("Arguments:", positional_actions(parser)), ("Flags:", flag_actions(parser))]
    lines: list[str] = []
    for title, actions in sections:
        if not actions:
            continue
        items = _labelled(actions)
        width = min(max(len(label) for label, _ in items), _FLAG_COLUMN - 2)
        lines += ["", title] if lines else [title]
        for label, text in items:
            lines += _entry(label, text, width)
    return "\n".join(lines)


def format_help(parser: argparse.ArgumentParser, *, prefix: str = "%") -> str:
    """The usage line and the argument and flag list of ``parser``."""
    return f"{format_usage(parser, prefix=prefix)}\n\n{format_flags(parser)}"


def documented(
    parser: Callable[[], argparse.ArgumentParser], *, prefix: str = "%"
) -> Callable[[F], F]:
    """Give a magic the help of ``parser()``: its ``__doc__`` (``%magic?``) and ``-h``.

    The magic's own docstring stays as the summary above the generated usage and flags.
    ``-h``/``--help`` (a :class:`HelpAction` on the parser) prints the same text instead of
    running the magic.
    """

    def decorate(magic: F) -> F:
        return _DocumentedMagic(magic, parser, prefix)  # type: ignore[return-value]

    return decorate


class _DocumentedMagic:
    """A magic whose help is written on first demand (``%magic?``, ``-h``), not at load: it
    needs the magic's parser built, and loading the extension should not build five.

    It binds like a function, so IPython registers and calls it as the method it wraps.
    """

    def __init__(
        self,
        magic: Callable[..., Any],
        parser: Callable[[], argparse.ArgumentParser],
        prefix: str,
    ) -> None:
        self.__wrapped__ = magic
        self.__name__ = magic.__name__
        self.__qualname__ = magic.__qualname__
        self.__module__ = magic.__module__
        self._parser = parser
        self._prefix = prefix
        self._text: str | None = None

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        if self._text is None:
            summary = inspect.cleandoc(self.__wrapped__.__doc__ or "")
            usage = format_help(self._parser(), prefix=self._prefix)
            self._text = f"{summary}\n\n{usage}".strip()
        return self._text

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else types.MethodType(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.__wrapped__(*args, **kwargs)
        except HelpRequested:
            print(self.__doc__)
            return None


def closest(word: str, candidates: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The candidates most like ``word``, best first (difflib's ratio, at least ``cutoff``).

    >>> closest("--wiat", ["--wait", "--timeout", "--logs"])
    ['--wait']
    """
    return difflib.get_close_matches(word, list(dict.fromkeys(candidates)), n=n, cutoff=cutoff)
