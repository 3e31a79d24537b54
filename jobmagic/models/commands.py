"""The inverse of :func:`jobmagic.models.fill_command`: a run's params, read back from its command.

The API reports a run's ``command`` but not the params it was triggered with. A run started
outside jobmagic (TrueFoundry's UI, a teammate, a schedule) can still be rerun with the same
params when its command is the job's template with each ``{{param}}`` slot filled: the
literal parts of the template pin down where each value starts and ends.

Recovery is all or nothing. When the command could be split in more than one way (two slots
side by side, a value that contains the text that follows its slot, …) no params are given,
rather than a guess.

>>> match_command("train.py --lr={{lr}} --epochs={{epochs}}", "train.py --lr=0.1 --epochs=3")
{'lr': '0.1', 'epochs': '3'}
>>> match_command("run {{a}}{{b}}", "run 123") is None     # where does a end? ambiguous
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobmagic.models.jobs import _SLOT_RE

__all__ = ["match_command"]

#: Backtracking steps allowed before a split is called ambiguous: real commands take a few
#: dozen; a pathological one (thousands of repeats of a separator) must not hang a listing.
STEP_BUDGET = 20_000


@dataclass(frozen=True)
class _Template:
    """``literals[0] {slots[0]} literals[1] … {slots[-1]} literals[-1]``."""

    literals: tuple[str, ...]
    slots: tuple[str, ...]


def _split(template: str) -> _Template:
    literals: list[str] = []
    slots: list[str] = []
    position = 0
    for match in _SLOT_RE.finditer(template):
        literals.append(template[position : match.start()])
        slots.append(match.group(1))
        position = match.end()
    literals.append(template[position:])
    return _Template(tuple(literals), tuple(slots))


class _Ambiguous(Exception):
    """A second split was found, or the search ran out of steps."""


def match_command(template: str, command: str) -> dict[str, str] | None:
    """The params that make ``fill_command(template, params) == command``, if exactly one
    set does; else ``None`` (no split fits, or several do).

    A slot used twice must have the same value both times. A value may be empty. A template
    with two slots side by side (``{{a}}{{b}}``) never gives params.

    >>> match_command("hello --name={{name}}", "hello --name=Ada Lovelace")
    {'name': 'Ada Lovelace'}
    >>> match_command("echo {{x}} and {{x}}", "echo 1 and 2") is None
    True
    >>> match_command("echo {{a}} {{b}}", "echo x y z") is None    # "x"+"y z" or "x y"+"z"
    True
    >>> match_command("echo hi", "echo hi")
    {}
    """
    parts = _split(template)
    if any(not literal for literal in parts.literals[1:-1]):
        return None  # two slots side by side: nothing says where the first value ends
    if not command.startswith(parts.literals[0]):
        return None
    if not parts.slots:
        return {} if command == template else None
    found: list[dict[str, str]] = []
    steps = [0]
    dead: set[tuple[int, int, tuple[tuple[str, str], ...]]] = set()
    # Only the names that reappear later constrain the rest of the search: they are what a
    # dead end's memo must be keyed on, besides where it stands.
    later = [set(parts.slots[k:]) for k in range(len(parts.slots) + 1)]

    def search(k: int, start: int, bound: Mapping[str, str]) -> bool:
        """Try every end for slot ``k``'s value; True if some split completed."""
        key = (k, start, tuple(sorted((n, v) for n, v in bound.items() if n in later[k])))
        if key in dead:
            return False
        name, literal = parts.slots[k], parts.literals[k + 1]
        last = k == len(parts.slots) - 1
        completed = False
        for end in _ends(command, start, literal, last):
            steps[0] += 1
            if steps[0] > STEP_BUDGET:
                raise _Ambiguous
            value = command[start:end]
            if bound.get(name, value) != value:
                continue
            chosen = {**bound, name: value}
            if last:
                found.append(chosen)
                completed = True
            elif search(k + 1, end + len(literal), chosen):
                completed = True
            if len(found) > 1:
                raise _Ambiguous
        if not completed:
            dead.add(key)
        return completed

    try:
        search(0, len(parts.literals[0]), {})
    except _Ambiguous:
        return None
    return found[0] if len(found) == 1 else None


def _ends(command: str, start: int, literal: str, last: bool) -> list[int]:
    """Where a value starting at ``start`` may end: just before each place ``literal``
    follows (for the last slot, only where it ends the command)."""
    if last:
        end = len(command) - len(literal)
        return [end] if end >= start and command.endswith(literal) else []
    ends = []
    at = command.find(literal, start)
    while at != -1:
        ends.append(at)
        at = command.find(literal, at + 1)
    return ends
