"""What a search came to: a :class:`~jobmagic.domain.sweeps.SweepResult` (wait, terminate,
the board, the frames) that also knows its Optuna study: each run's trial and its state,
the best run by the objective, and the two pictures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobmagic.domain.handle import RunHandle
from jobmagic.domain.sweeps import SweepResult
from jobmagic.errors import JobmagicError

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from jobmagic.domain.target import ResolvedTarget
    from jobmagic.models.objectives import Objective

__all__ = ["SearchResult", "TrialRow"]


@dataclass(frozen=True)
class TrialRow:
    """One trial as the pictures and frames read it (plain data, no Optuna object)."""

    number: int
    state: str  # Optuna's: COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: float | None
    params: dict[str, Any]
    run: str | None
    reason: str | None = None


@dataclass(repr=False)
class SearchResult(SweepResult):
    """A search's runs (its trials' runs, in trial order) and its study.

    Beyond a sweep's ``wait``, ``terminate`` and board: ``trials()`` (every trial of the
    study, this call's and earlier ones'), ``best()`` (the best finished run by the
    objective), ``to_dataframe()`` with ``trial``, ``trial_state`` (PRUNED for a run stopped
    early) and ``value`` columns, and the pictures ``plot_parallel()`` and
    ``plot_importance()``.
    """

    study: optuna.Study | None = field(default=None, compare=False)
    #: The job searched (for runs of earlier calls, attached by name).
    resolved: ResolvedTarget | None = field(default=None, repr=False, compare=False)
    #: Trials this call added (started runs or not).
    added: int = 0

    def trials(self) -> list[TrialRow]:
        """Every trial of the study, oldest first, as stored now."""
        if self.study is None:
            return []
        return [
            TrialRow(
                number=trial.number,
                state=trial.state.name,
                value=trial.value if trial.state.name == "COMPLETE" else None,
                params=dict(trial.params),
                run=_run_name(trial.user_attrs.get("run")),
                reason=trial.user_attrs.get("failed_because"),
            )
            for trial in self.study.get_trials(deepcopy=False)
        ]

    def run_labels(self) -> Mapping[str, str]:
        """``pruned`` beside each run the pruner stopped (its status is TERMINATED)."""
        # The board asks on every redraw; the study changes a trial to PRUNED only as its
        # run ends, so the storage is read again only when another run has ended.
        ended = sum(1 for handle in self.handles if handle.run.is_terminal)
        cached = self.__dict__.get("_labels")
        if cached is not None and cached[0] == ended:
            return cached[1]
        labels = {row.run: "pruned" for row in self.trials() if row.state == "PRUNED" and row.run}
        self.__dict__["_labels"] = (ended, labels)
        return labels

    def trial_of(self, handle: RunHandle) -> TrialRow | None:
        """The trial whose run ``handle`` is."""
        return next((row for row in self.trials() if row.run == handle.name), None)

    def best(
        self, objective: str | Objective | None = None, *, goal: str | None = None
    ) -> RunHandle:
        """The run of the best finished trial by the search's objective (this call's runs,
        or the study's earlier ones, attached by name). Another ``objective`` ranks this
        call's runs by it, as a sweep's :meth:`~SweepResult.best` does."""
        if objective is not None or goal is not None:
            return super().best(objective, goal=goal)
        rows = [row for row in self.trials() if row.state == "COMPLETE" and row.value is not None]
        if not rows or self.objective is None:
            raise JobmagicError(
                f"The search {self.name!r} has no finished trial yet: nothing is best."
            )
        objective = self.objective
        top = min(rows, key=lambda row: objective.sort_key(row.value))
        for handle in self.handles:
            if handle.name == top.run:
                return handle
        session: Any = self.session
        if top.run is None or self.resolved is None or session is None:
            raise JobmagicError(f"The run of trial {top.number} is not known.")
        return session.attach(top.run, self.resolved.target)

    def to_dataframe(self, **options: Any) -> pd.DataFrame:
        """The runs as a DataFrame (see :func:`jobmagic.runs_to_dataframe`), with each run's
        ``trial`` number, ``trial_state`` (COMPLETE, PRUNED, FAIL, RUNNING) and ``value``
        (the objective's value of a COMPLETE trial)."""
        frame = super().to_dataframe(**options)
        by_run = {row.run: row for row in self.trials() if row.run}
        rows = [by_run.get(handle.name) for handle in self.handles]
        frame["trial"] = [row.number if row else None for row in rows]
        frame["trial_state"] = [row.state if row else None for row in rows]
        frame["value"] = [row.value if row else None for row in rows]
        return frame

    def plot_parallel(self, **options: Any) -> Any:
        """Parallel coordinates of the params against the objective (one line per finished
        trial, coloured by its value, the best end of the scale marked); displayed by itself,
        returns the matplotlib figure. See :func:`jobmagic.frames.plot_parallel`."""
        from jobmagic.frames._search_plots import plot_parallel

        options.setdefault("log", self._log_params())
        return plot_parallel(self.trials(), self._objective(), **options)

    def _log_params(self) -> set[str]:
        """The params sampled on a log scale (drawn on one)."""
        if self.study is None:
            return set()
        return {
            name
            for trial in self.study.get_trials(deepcopy=False)
            for name, dist in trial.distributions.items()
            if getattr(dist, "log", False)
        }

    def plot_importance(self, **options: Any) -> Any:
        """How much each param mattered to the objective (Optuna's importance evaluator,
        fANOVA by default), as horizontal bars; displayed by itself, returns the figure."""
        from optuna.importance import get_param_importances

        from jobmagic.frames._search_plots import plot_importance

        if self.study is None:
            raise JobmagicError("This search has no study to weigh params in.")
        evaluator = options.pop("evaluator", None)
        try:
            importances = get_param_importances(self.study, evaluator=evaluator)
        except (RuntimeError, ValueError) as exc:
            raise JobmagicError(f"Cannot weigh the params yet: {exc}") from None
        return plot_importance(importances, self._objective(), **options)

    def _objective(self) -> Objective:
        if self.objective is None:
            raise JobmagicError("This search has no objective.")
        return self.objective

    def summary(self) -> str:
        """One line: the trials this call added, the study's trials by state (PRUNED ones
        counted apart), and its best value with its run; then the failures, as a sweep's."""
        rows = self.trials()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        states = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
        head = f"Search {self.name!r} ({self.objective}): {self.added} trials added"
        line = f"{head}; the study has {states or 'no trials'}"
        done = [row for row in rows if row.state == "COMPLETE" and row.value is not None]
        if done and self.objective is not None:
            objective = self.objective
            top = min(done, key=lambda row: objective.sort_key(row.value))
            line += f"; best {objective.metric} {top.value:.4g} ({top.run})"
        lines = [line + "."]
        if self.failures:
            lines.append(super().summary())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _run_name(known: Any) -> str | None:
    """The run name in a trial's ``run`` user attribute (``{name, application_id, …}``)."""
    name = known.get("name") if isinstance(known, dict) else None
    return name if isinstance(name, str) else None
