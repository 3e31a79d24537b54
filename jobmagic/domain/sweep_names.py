"""A sweep's name: checked when given, made up when not. Pure.

A made-up name is the job's short name and two short words (``train-brisk-otter``): easy to
read back from a board, to type in ``%job_runs --sweep`` and to say aloud. The caller says
which names are taken (the ledger's); after a few tries a short random id makes it unique.

>>> check_sweep_name("lr-scan")
'lr-scan'
>>> check_sweep_name("lr scan")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
jobmagic.errors.ParamsError: A sweep name is 1-64 letters, digits, ...
>>> made = new_sweep_name("sandbox:demo:train", taken=lambda name: False)
>>> made.startswith("train-") and len(made.split("-")) == 3
True
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from jobmagic.errors import ParamsError

__all__ = ["check_sweep_name", "job_short_name", "new_sweep_name"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Short, plain, unambiguous words: an adjective and a noun.
_FIRST = _words(
    """amber bold brisk calm clear cool crisp deep dry fair fast fine firm fresh glad gold keen
    kind late lean light live loud lucky mild neat new odd pale plain prime proud quick quiet
    rapid rare ripe round sharp shy slow smart soft solid swift tall tidy true vast warm wide
    wild wise young"""
)
_SECOND = _words(
    """badger bear bee birch cedar cloud comet crane creek dune eagle elm falcon fern finch fox
    gecko heron hill ibis jay koala lake lark lynx maple marten mole moon moss newt oak orca
    otter owl panda pine plum quail raven reef river robin seal shore sparrow star stone swan
    tiger trout tulip wave willow wolf wren"""
)


def check_sweep_name(name: str) -> str:
    """``name`` if it can name a sweep (1-64 letters, digits, ``. _ -``, not starting with
    a mark), else a :class:`~jobmagic.ParamsError` saying what it may be."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ParamsError(
            "A sweep name is 1-64 letters, digits, dots, dashes or underscores, starting "
            f"with a letter or digit (e.g. lr-scan), not {name!r}."
        )
    return name


def job_short_name(job: str | None) -> str:
    """The last part of a job's FQN or name, reduced to what a sweep name may hold.

    >>> job_short_name("sandbox:demo:train"), job_short_name(None), job_short_name("My Job!")
    ('train', 'sweep', 'my-job')
    """
    last = (job or "").rsplit(":", 1)[-1].lower()
    short = re.sub(r"[^a-z0-9]+", "-", last).strip("-")[:32].strip("-")
    return short or "sweep"


def new_sweep_name(job: str | None, *, taken: Callable[[str], bool], tries: int = 8) -> str:
    """A readable name no sweep has yet: ``<job>-<word>-<word>``, else with a short id."""
    head = job_short_name(job)
    for _ in range(tries):
        name = f"{head}-{secrets.choice(_FIRST)}-{secrets.choice(_SECOND)}"
        if not taken(name):
            return name
    while True:  # ~3,000 word pairs all taken for this job: a random id ends it
        name = f"{head}-{secrets.token_hex(3)}"
        if not taken(name):
            return name
