"""Which job to trigger (:class:`Target`: an FQN or name to look up, or an id) and what a
lookup found (:class:`ResolvedTarget`).

>>> Target("cluster:workspace:train").label
'cluster:workspace:train'
>>> Target()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
jobmagic.errors.ParamsError: Got no target. Name exactly one job: an FQN like ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from jobmagic.errors import ParamsError
from jobmagic.models import Application, JobRun

__all__ = ["ResolvedTarget", "Target", "command_text"]


@dataclass(frozen=True)
class Target:
    """Which job to trigger: an FQN or name to look up, or an id. Exactly one."""

    app: str | None = None
    application_id: str | None = None
    deployment_id: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.app, self.application_id, self.deployment_id) if v]
        if len(given) != 1:
            what = "no target" if not given else "more than one target"
            raise ParamsError(
                f"Got {what}. Name exactly one job: an FQN like cluster:workspace:app, an "
                "application name, --application-id ID, or --deployment-id ID."
            )

    @property
    def label(self) -> str:
        return self.app or self.application_id or self.deployment_id or ""


@dataclass(frozen=True)
class ResolvedTarget:
    target: Target
    application: Application | None
    application_id: str | None
    deployment_id: str | None
    #: Taken from the session's memory of an earlier lookup, not looked up just now.
    remembered: bool = field(default=False, compare=False)

    @property
    def fqn(self) -> str | None:
        if self.application is not None:
            return self.application.fqn
        return None

    def with_ids(self, run: JobRun) -> JobRun:
        """``run`` with the ids the server may leave out filled in, so later refreshes know
        where to look."""
        if run.application_id and run.deployment_id and run.application_name:
            return run  # the usual answer: nothing to fill (and no copy on every trigger)
        return replace(
            run,
            application_id=run.application_id or self.application_id,
            deployment_id=run.deployment_id or self.deployment_id,
            application_name=run.application_name
            or (self.application.name if self.application else None),
        )


def command_text(command: str | Sequence[str] | None) -> str | None:
    if command is None or isinstance(command, str):
        return command
    return " ".join(command)
