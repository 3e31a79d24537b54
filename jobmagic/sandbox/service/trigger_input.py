"""A trigger's body, read: ``applicationId``/``deploymentId``, ``input`` and the alias. Pure.

Problems are collected as ``{field, message}`` details, so one 422 names all of them;
params are checked against the job's declarations and filled with its defaults.

>>> details = []
>>> parse_trigger_input({"input": {"params": {"lr": "0.1"}}}, details), details
((None, {'lr': '0.1'}, None), [])
>>> parse_trigger_input({"input": {"params": {"lr": 1}}}, details)[1], details
({}, [{'field': 'input.params.lr', 'message': 'must be a string'}])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jobmagic.models import PARAM_NAME_PATTERN, fill_command
from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.service.catalog import JobSpec

__all__ = [
    "ALIAS_PATTERN",
    "Details",
    "optional_str",
    "parse_trigger_input",
    "reported_command",
    "resolve_params",
]

#: ``metadata.job_run_name_alias``: what may prefix a run's name.
ALIAS_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")

Details = list[dict[str, str]]


def optional_str(body: Mapping[str, Any], key: str, details: Details) -> str | None:
    """``body[key]`` if it is a non-empty string; None if absent, else a detail is added."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        details.append({"field": key, "message": "must be a non-empty string"})
        return None
    return value


def parse_trigger_input(
    body: Mapping[str, Any], details: Details
) -> tuple[str | list[str] | None, dict[str, str], str | None]:
    """``input.command``, ``input.params`` and the alias, with problems added to details."""
    command: str | list[str] | None = None
    params: dict[str, str] = {}
    raw_input = body.get("input")
    if raw_input is not None and not isinstance(raw_input, Mapping):
        details.append({"field": "input", "message": "must be an object"})
        raw_input = None
    raw_input = raw_input or {}

    raw_command = raw_input.get("command")
    if isinstance(raw_command, str):
        command = raw_command
    elif isinstance(raw_command, list) and all(isinstance(part, str) for part in raw_command):
        command = list(raw_command)
    elif raw_command is not None:
        details.append(
            {"field": "input.command", "message": "must be a string or a list of strings"}
        )

    raw_params = raw_input.get("params")
    if raw_params is not None and not isinstance(raw_params, Mapping):
        details.append({"field": "input.params", "message": "must be an object"})
    elif raw_params:
        for name, value in raw_params.items():
            field = f"input.params.{name}"
            if not isinstance(name, str) or not PARAM_NAME_PATTERN.match(name):
                details.append(
                    {
                        "field": field,
                        "message": f"is not a valid param name ({PARAM_NAME_PATTERN.pattern})",
                    }
                )
            elif not isinstance(value, str):
                details.append({"field": field, "message": "must be a string"})
            else:
                params[name] = value
    if command is not None and raw_params:
        details.append({"field": "input", "message": "give either command or params, not both"})

    alias = None
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        details.append({"field": "metadata", "message": "must be an object"})
    elif metadata:
        raw_alias = metadata.get("job_run_name_alias")
        if raw_alias is not None and (
            not isinstance(raw_alias, str) or not ALIAS_PATTERN.match(raw_alias)
        ):
            details.append(
                {
                    "field": "metadata.job_run_name_alias",
                    "message": "must be 1-40 lowercase letters, digits or dashes",
                }
            )
        else:
            alias = raw_alias
    return command, params, alias


def resolve_params(job: JobSpec, given: Mapping[str, str]) -> dict[str, str]:
    """Given params plus declared defaults; undeclared or missing params are a 422."""
    details: Details = []
    declared = [p.name for p in job.params]
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            details.append(
                {
                    "field": f"input.params.{name}",
                    "message": f"is not a param of {job.name} (declared: {known})",
                }
            )
    resolved: dict[str, str] = {}
    for param in job.params:
        if param.name in given:
            resolved[param.name] = given[param.name]
        elif param.default is not None:
            resolved[param.name] = param.default
        else:
            details.append({"field": f"input.params.{param.name}", "message": "is required"})
    if details:
        raise ApiProblem.validation(details)
    return resolved


def reported_command(
    job: JobSpec, override: str | list[str] | None, params: Mapping[str, str]
) -> str:
    """The run's ``command`` as TrueFoundry reports it: an override as given, else the
    manifest's template with its slots filled as text. What ran is the argv built from the
    same template (split first, then filled); this is what a person, or a client matching
    a run to the params it sent, reads."""
    if override is not None:
        return override if isinstance(override, str) else " ".join(override)
    return fill_command(job.display_command(), params)
