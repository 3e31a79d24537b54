"""A search space as Optuna's distributions, and a trial's params as the text the API takes.

The space is read by :mod:`jobmagic.params._space` (a cell body, or a Python dict); Optuna's
own distributions given in Python are kept as they are. Optuna is imported here, on the
first search, never by ``import jobmagic`` or ``%load_ext``.

>>> space = SearchSpace.read({"lr": {"low": 1e-4, "high": 0.1, "log": True}, "seed": "7",
...                           "opt": ["adam", "sgd"]})
>>> space.fixed, sorted(space.distributions)
({'seed': '7'}, ['lr', 'opt'])
>>> space.params_of({"lr": 0.0012345678901234, "opt": "sgd"})
{'seed': '7', 'lr': '0.00123456789012', 'opt': 'sgd'}
>>> space.grid()
Traceback (most recent call last):
...
jobmagic.errors.ParamsError: a grid search takes choices and ranges with a step only; \
`lr` is a range without a step
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobmagic.errors import ParamsError
from jobmagic.params._space import Choice, Fixed, Range, SpaceEntry, space_from_mapping

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["SearchSpace", "param_text"]


def param_text(value: Any) -> str:
    """The text sent for a sampled value: floats without binary noise (12 digits).

    >>> param_text(0.30000000000000004), param_text(3), param_text("adam")
    ('0.3', '3', 'adam')
    """
    if isinstance(value, float):
        return format(value, ".12g")
    return str(value)


@dataclass(frozen=True)
class SearchSpace:
    """The params every trial sends (``fixed``) and those Optuna samples (``distributions``)."""

    fixed: Mapping[str, str]
    distributions: Mapping[str, BaseDistribution]
    #: What a stored study is compared against (JSON-able).
    description: Mapping[str, Any]

    @classmethod
    def read(cls, space: Mapping[str, Any] | Mapping[str, SpaceEntry]) -> SearchSpace:
        """From a Python dict (values, lists, range mappings, Optuna distributions) or from
        :func:`jobmagic.params.parse_space_body`'s entries."""
        from optuna.distributions import BaseDistribution

        if not isinstance(space, Mapping):
            raise ParamsError(
                f"a search space is a mapping of param name to value, choices or range, "
                f"not {type(space).__name__}"
            )
        own = {k: v for k, v in space.items() if isinstance(v, BaseDistribution)}
        entries: dict[str, Any] = {k: v for k, v in space.items() if k not in own}
        plain = {k: v for k, v in entries.items() if not isinstance(v, Fixed | Choice | Range)}
        entries.update(space_from_mapping(plain))
        fixed: dict[str, str] = {}
        distributions: dict[str, BaseDistribution] = {}
        for name in space:
            entry = own.get(name) or entries[name]
            if isinstance(entry, Fixed):
                fixed[name] = entry.value
            elif isinstance(entry, Choice | Range):
                distributions[name] = _distribution(entry)
            else:
                distributions[name] = entry
        if not distributions:
            raise ParamsError(
                "the search space has nothing to search: give at least one param a list of "
                "choices or a range such as {low: 0.001, high: 0.1}"
            )
        # One description however a param was given (a body's range, a dict, Optuna's
        # distribution): the same space is the same search.
        description = {
            name: fixed[name] if name in fixed else _describe(distributions[name]) for name in space
        }
        return cls(fixed, distributions, description)

    def params_of(self, sampled: Mapping[str, Any]) -> dict[str, str]:
        """The params a trial sends: the fixed ones, then its sampled values as text."""
        return {**self.fixed, **{name: param_text(v) for name, v in sampled.items()}}

    def grid(self) -> dict[str, list[Any]]:
        """Every value of each searched param, for Optuna's grid sampler (choices, and
        ranges with a step)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        grid: dict[str, list[Any]] = {}
        for name, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                grid[name] = list(dist.choices)
            elif isinstance(dist, IntDistribution) and not dist.log:
                grid[name] = list(range(dist.low, dist.high + 1, dist.step))
            elif isinstance(dist, FloatDistribution) and dist.step is not None:
                count = round((dist.high - dist.low) / dist.step) + 1
                grid[name] = [dist.low + i * dist.step for i in range(count)]
            else:
                raise ParamsError(
                    "a grid search takes choices and ranges with a step only; "
                    f"`{name}` is a range without a step"
                )
        return grid


def _describe(dist: BaseDistribution) -> Any:
    """A distribution as JSON-able data: its choices, or its range (a step of 1 on
    integers is no step)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        step = None if dist.step == 1 else dist.step
        return {"low": dist.low, "high": dist.high, "log": dist.log, "step": step}
    attributes = getattr(dist, "__dict__", {})
    return {key: attributes.get(key) for key in ("low", "high", "log", "step")}


def _distribution(entry: Choice | Range) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(entry, Choice):
        return CategoricalDistribution(entry.values)
    if entry.is_int:
        return IntDistribution(
            int(entry.low), int(entry.high), log=entry.log, step=int(entry.step or 1)
        )
    return FloatDistribution(entry.low, entry.high, log=entry.log, step=entry.step)
