"""The vocabulary: the API's objects and constants (``jobs``), TrueFoundry's ML runs
(``ml``), reading params back from a command (``commands``), how runs read as text
(``formatting``) and metrics as words (``metrics``). Pure: no I/O.

>>> from jobmagic.models import JobRun, RunStatus
>>> JobRun.from_api({"name": "train-x1", "status": "FINISHED"}).status is RunStatus.FINISHED
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._lazy import lazy_attributes

if TYPE_CHECKING:
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

# Loaded on first use: ``import jobmagic.models.metrics`` (the settings' validator, at
# ``%load_ext``) must not build the API's dataclasses.
_LAZY = {
    "API_PREFIX": "jobmagic.models.constants",
    "PARAM_NAME_PATTERN": "jobmagic.models.jobs",
    "Application": "jobmagic.models.jobs",
    "Event": "jobmagic.models.jobs",
    "InvolvedObject": "jobmagic.models.jobs",
    "JobRun": "jobmagic.models.jobs",
    "LogLine": "jobmagic.models.jobs",
    "ParamSpec": "jobmagic.models.jobs",
    "RunStatus": "jobmagic.models.jobs",
    "Subject": "jobmagic.models.jobs",
    "TriggerResult": "jobmagic.models.jobs",
    "Workspace": "jobmagic.models.jobs",
    "datetime_to_ms": "jobmagic.models.jobs",
    "fill_command": "jobmagic.models.jobs",
    "iso_to_datetime": "jobmagic.models.jobs",
    "ms_to_datetime": "jobmagic.models.jobs",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
