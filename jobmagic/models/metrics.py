"""Metrics as words: which way a metric ranks, and reading values from log lines. Pure.

A job that logs no ML run still prints its metrics; a pattern (``{"acc": r"acc=([0-9.eE+-]+)"}``)
reads them from its logs: the last match is the value, all matches in order the history.

>>> patterns = compile_patterns({"acc": r"acc=([0-9.]+)"})
>>> scan_logs(["epoch 1 acc=0.5", "noise", "acc=0.75"], patterns)
{'acc': [0.5, 0.75]}
>>> compile_patterns({"acc": r"acc=[0-9.]+"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: metric pattern 'acc' has no group: put the value in parentheses, ...
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobmagic.errors import ObjectiveError
from jobmagic.models.objectives import Goal, Objective, metric_goal

__all__ = ["MetricGoals", "RunKey", "compile_patterns", "scan_logs"]

RunKey = tuple[str, str]  # (application id, job run name)


@dataclass(frozen=True)
class MetricGoals:
    """Which way each metric ranks: the objective's metric by its goal, any other by the
    user's table (``%config JobMagic.metric_goals``), then by the default of its name's last
    token (:func:`jobmagic.models.objectives.metric_goal`); None where none says, and such a
    metric is shown unranked (no ★, no best-first sort). Never a substring guess.

    >>> goals = MetricGoals({"uptime": "max"}, Objective("gap", "min"))
    >>> goals.goal("val_loss"), goals.goal("uptime"), goals.goal("gap"), goals.goal("steps")
    ('min', 'max', 'min', None)
    >>> goals.ranking("accuracy")
    Objective(metric='accuracy', goal='max')
    """

    table: Mapping[str, str] = field(default_factory=dict)
    objective: Objective | None = None

    def goal(self, name: str) -> Goal | None:
        if self.objective is not None and name == self.objective.metric:
            return self.objective.goal
        try:
            return metric_goal(name, self.table)
        except ObjectiveError:
            return None  # a misspelled goal in the table ranks nothing (%config refuses one)

    def ranking(self, name: str) -> Objective | None:
        """``name`` as an :class:`Objective`, None when its direction is not known."""
        goal = self.goal(name)
        return Objective(name, goal) if goal is not None else None


def compile_patterns(patterns: Mapping[str, Any] | None) -> dict[str, re.Pattern[str]]:
    """Checked metric patterns: each must compile and have a group holding the value.

    The value is the group named ``value`` if there is one, else the first group.
    """
    compiled: dict[str, re.Pattern[str]] = {}
    if patterns is None:
        return compiled
    if not isinstance(patterns, Mapping):
        raise ValueError(
            "metric_patterns must be a dict of metric name -> regular expression, e.g. "
            '{"acc": r"acc=([0-9.eE+-]+)"}'
        )
    for name, pattern in patterns.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"metric pattern names must be non-empty strings, got {name!r}")
        if isinstance(pattern, re.Pattern):
            regex = pattern
        elif isinstance(pattern, str):
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"metric pattern {name!r} is not a valid regular expression ({exc}): "
                    f"{pattern!r}"
                ) from None
        else:
            raise ValueError(
                f"metric pattern {name!r} must be a string (a regular expression), "
                f"got {type(pattern).__name__}"
            )
        if regex.groups < 1:
            raise ValueError(
                f"metric pattern {name!r} has no group: put the value in parentheses, "
                f"e.g. '{re.escape(name)}=([0-9.eE+-]+)'"
            )
        compiled[name] = regex
    return compiled


def _value_of(match: re.Match[str]) -> float | None:
    text = match.group("value") if "value" in match.re.groupindex else match.group(1)
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def scan_logs(
    lines: Iterable[str], patterns: Mapping[str, re.Pattern[str]]
) -> dict[str, list[float]]:
    """Every value each pattern finds in ``lines``, in order (names with none left out)."""
    found: dict[str, list[float]] = {}
    for line in lines:
        for name, regex in patterns.items():
            for match in regex.finditer(line):
                value = _value_of(match)
                if value is not None:
                    found.setdefault(name, []).append(value)
    return found
