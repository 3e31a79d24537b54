"""Objectives: which metric a sweep optimises and in which direction. Pure.

A metric's direction is never guessed from a substring. It is, in order: the goal given
with it (``"loss:min"``, ``goal="max"``), the user's table (``%config
JobMagic.metric_goals = {"uptime": "max"}``), then a default decided by the name's *last
token* (the name split on ``_ . / - :`` and camelCase): ``val_loss`` and ``test/rmse`` are
minimised, ``train_accuracy`` and ``f1`` maximised, and ``uptime``, ``timesteps``,
``interrupt_count`` or ``mse_improvement`` have no known direction.

>>> metric_goal("val_loss"), metric_goal("test/rmse"), metric_goal("trainAccuracy")
('min', 'min', 'max')
>>> metric_goal("mse_improvement") is None, metric_goal("uptime", {"uptime": "max"})
(True, 'max')
>>> parse_objective("accuracy:max")
Objective(metric='accuracy', goal='max')
>>> parse_objective("loss").better(0.1, 0.2)
True
>>> parse_objective("uptime")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
jobmagic.errors.ObjectiveError: the direction of metric 'uptime' is not known: ...
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from jobmagic.errors import ObjectiveError

__all__ = [
    "DEFAULT_GOALS",
    "Goal",
    "Objective",
    "metric_goal",
    "name_tokens",
    "parse_goal",
    "parse_objective",
]

Goal = Literal["min", "max"]

_MIN = (
    "loss logloss nll error err errors mse rmse mae mape smape msle rmsle perplexity ppl "
    "latency duration time seconds secs cost regret wer cer ter bpc bpd fid eer"
)
_MAX = (
    "accuracy acc f1 f1score fscore precision recall auc auroc auprc ap map ndcg mrr bleu "
    "rouge meteor r2 iou miou dice reward return score kappa mcc throughput sharpe "
    "specificity sensitivity hits"
)
#: The default direction of a metric by the last token of its name (lower case).
DEFAULT_GOALS: Mapping[str, Goal] = {
    **{token: "min" for token in _MIN.split()},
    **{token: "max" for token in _MAX.split()},
}

_SEPARATORS = re.compile(r"[_./\-:\s]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def name_tokens(name: str) -> list[str]:
    """``name`` split on ``_ . / - :`` and camelCase, lower-cased.

    >>> name_tokens("val/trainAccuracy_top-1")
    ['val', 'train', 'accuracy', 'top', '1']
    """
    parts = (_CAMEL.split(part) for part in _SEPARATORS.split(name))
    return [token.lower() for chunk in parts for token in chunk if token]


def parse_goal(goal: str) -> Goal:
    """``"min"``/``"max"`` (also ``minimize``/``maximize``, any case), else an ObjectiveError."""
    word = goal.strip().lower()
    if word in ("min", "minimize", "minimise"):
        return "min"
    if word in ("max", "maximize", "maximise"):
        return "max"
    raise ObjectiveError(f"goal {goal!r} is neither 'min' nor 'max'")


def metric_goal(name: str, goals: Mapping[str, str] | None = None) -> Goal | None:
    """The direction of ``name``: the user's table first, then the last-token default."""
    if goals and name in goals:
        return parse_goal(goals[name])
    tokens = name_tokens(name)
    return DEFAULT_GOALS.get(tokens[-1]) if tokens else None


@dataclass(frozen=True)
class Objective:
    """A metric and its goal; ``str()`` gives the spelling ``parse_objective`` reads.

    >>> best = Objective("accuracy", "max")
    >>> str(best), best.better(0.9, 0.8), best.best([0.7, None, 0.9])
    ('accuracy:max', True, 0.9)
    """

    metric: str
    goal: Goal

    def __str__(self) -> str:
        return f"{self.metric}:{self.goal}"

    @property
    def minimize(self) -> bool:
        return self.goal == "min"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a < b if self.minimize else a > b

    def best(self, values: list[float | None]) -> float | None:
        """The best finite value of ``values``, None where there is none."""
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        return min(finite) if self.minimize else max(finite)

    def sort_key(self, value: float | None) -> tuple[int, float]:
        """Ascending key putting the best value first and missing values last."""
        if value is None or not math.isfinite(value):
            return (1, 0.0)
        return (0, value if self.minimize else -value)


def parse_objective(
    spec: str | Objective,
    goal: str | None = None,
    goals: Mapping[str, str] | None = None,
) -> Objective:
    """An Objective from ``"loss"``, ``"loss:min"`` or ``("loss", goal="min")``.

    A goal given twice must agree; a metric whose direction is not known (see
    :func:`metric_goal`) is refused with a message asking for ``:min`` or ``:max``.
    """
    if isinstance(spec, Objective):
        if goal is not None and parse_goal(goal) != spec.goal:
            raise ObjectiveError(f"objective {spec} and goal={goal!r} disagree")
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ObjectiveError(
            f"an objective is a metric name such as 'loss' or 'accuracy:max', got {spec!r}"
        )
    metric, sep, spelled = spec.strip().rpartition(":")
    if not sep or spelled.strip().lower() not in _GOAL_WORDS:
        metric, spelled = spec.strip(), ""
    metric = metric.strip()
    if not metric:
        raise ObjectiveError(f"objective {spec!r} names no metric: write e.g. 'loss:min'")
    chosen = parse_goal(spelled) if spelled else None
    if goal is not None:
        given = parse_goal(goal)
        if chosen is not None and chosen != given:
            raise ObjectiveError(f"objective {spec!r} and goal={goal!r} disagree")
        chosen = given
    if chosen is None:
        chosen = metric_goal(metric, goals)
    if chosen is None:
        raise ObjectiveError(
            f"the direction of metric {metric!r} is not known: write {metric + ':min'!r} "
            f"or {metric + ':max'!r} (or set %config JobMagic.metric_goals = "
            f'{{"{metric}": "max"}})'
        )
    return Objective(metric, chosen)


_GOAL_WORDS = frozenset({"min", "max", "minimize", "maximize", "minimise", "maximise"})
