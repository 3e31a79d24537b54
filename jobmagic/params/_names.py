"""Param names: the API's rule, and messages that say which part of a name breaks it."""

from __future__ import annotations

import re
from typing import Any, Final

from jobmagic.models import PARAM_NAME_PATTERN
from jobmagic.params._source import short

__all__ = ["NAME_PATTERN", "NAME_RULE", "is_valid_name", "name_message", "not_str_message"]

#: The API's rule for param names (always applied with ``fullmatch``, so ``"lr\n"`` fails).
NAME_PATTERN: Final = PARAM_NAME_PATTERN

#: :data:`NAME_PATTERN` in words, for error messages.
NAME_RULE: Final = (
    "names are 2 to 32 characters: lowercase letters, digits, `-` and `_`, "
    "starting with a letter and ending with a letter or digit"
)


def is_valid_name(name: object) -> bool:
    """True if ``name`` is a param name the API accepts.

    >>> is_valid_name("learning-rate"), is_valid_name("LR"), is_valid_name("x")
    (True, False, False)
    """
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def name_message(name: str) -> str:
    """Why ``name`` is refused, with the rule and, when one is close, a valid name.

    >>> name_message("Learning Rate")
    '`Learning Rate` is not a valid param name (it has uppercase letters); names are 2 to 32 \
characters: lowercase letters, digits, `-` and `_`, starting with a letter and ending with a \
letter or digit, e.g. `learning_rate`'
    """
    shown = short(name)
    if name == "":
        return "a param name is missing before `:`; write `name: value`"
    if len(name) > 32:
        why = f"it has {len(name)} characters"
    elif len(name) == 1:
        why = "it has only one character"
    elif "A" <= name[0] <= "Z":
        why = "it has uppercase letters"
    elif not ("a" <= name[0] <= "z"):
        why = f"it starts with `{short(name[0])}`"
    elif name[-1] in "-_":
        why = f"it ends with `{name[-1]}`"
    elif any(ch.isupper() for ch in name):
        why = "it has uppercase letters"
    else:
        bad = next((ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch in "-_"))), "")
        why = f"it contains `{short(bad)}`" if bad else "it breaks the naming rule"
    suggestion = _suggest_name(name)
    example = f", e.g. `{suggestion}`" if suggestion else ""
    return f"`{shown}` is not a valid param name ({why}); {NAME_RULE}{example}"


def _suggest_name(name: str) -> str | None:
    candidate = re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower())
    candidate = re.sub(r"^[^a-z]+", "", candidate)[:32].rstrip("-_")
    return candidate if is_valid_name(candidate) and candidate != name else None


def not_str_message(name: str, value: Any) -> str:
    """Why a value given from Python is refused: the API takes only strings."""
    if value is None:
        return f"`{name}` is None, but param values must be strings; pass a string or leave it out"
    kind = type(value).__name__
    article = "an" if kind[:1] in "aeiou" else "a"
    try:
        text = str(value)
    except Exception:  # a user object's __str__ may raise anything
        text = "..."
    return (
        f"`{name}` is {article} {kind} ({short(repr(value))}), but param values must be "
        f'strings; pass "{short(text)}" (str(...)) instead'
    )
