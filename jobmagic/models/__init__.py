"""The vocabulary: the API's objects and constants (``jobs``), TrueFoundry's ML runs
(``ml``), and reading params back from a command (``commands``). Pure data: no I/O.

>>> from jobmagic.models import JobRun, RunStatus
>>> JobRun.from_api({"name": "train-x1", "status": "FINISHED"}).status is RunStatus.FINISHED
True
"""

from __future__ import annotations

from jobmagic.models.jobs import (
    API_PREFIX,
    PARAM_NAME_PATTERN,
    Application,
    Event,
    InvolvedObject,
    JobRun,
    LogLine,
    ParamSpec,
    RunStatus,
    Subject,
    TriggerResult,
    Workspace,
    datetime_to_ms,
    fill_command,
    iso_to_datetime,
    ms_to_datetime,
)

__all__ = [
    "API_PREFIX",
    "PARAM_NAME_PATTERN",
    "Application",
    "Event",
    "InvolvedObject",
    "JobRun",
    "LogLine",
    "ParamSpec",
    "RunStatus",
    "Subject",
    "TriggerResult",
    "Workspace",
    "datetime_to_ms",
    "fill_command",
    "iso_to_datetime",
    "ms_to_datetime",
]
