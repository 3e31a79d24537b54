"""Job declarations for the sandbox: what a YAML jobs file says, and how a run's argv is built.

A jobs file declares jobs the way TrueFoundry's deployment manifest does: a name, where it
lives (cluster and workspace), a command template with ``{{param}}`` slots, and the params
with their defaults::

    cluster: sandbox          # default for every job below
    workspace: demo
    jobs:
      - name: train
        description: Trains a model.
        command: "{python} -u train.py --lr {{lr}} --epochs {{epochs}}"
        workdir: .             # optional, relative to this file (default: this file's folder)
        params:
          - name: lr
            default: "0.01"
            description: Learning rate.
          - name: epochs      # no default: the param is required

Every scalar is read as text (YAML's ``BaseLoader``), so ``default: 0.10`` stays ``"0.10"``
and ``default: yes`` stays ``"yes"`` — param values are strings in the API too.

Three placeholders, written with single braces, stand for sandbox paths:
``{python}`` (the interpreter running the sandbox), ``{demo_dir}`` (the folder of the
built-in demo programs) and ``{jobs_dir}`` (the folder of the jobs file).

>>> job = JobSpec(name="hello", command="echo 'hi {{name}}'", params=(ParamDecl("name", "x"),))
>>> build_argv(job.command, {"name": "; rm -rf ~"})
['echo', 'hi ; rm -rf ~']
>>> job.fqn, job.application_id
('sandbox:default:hello', 'app-sandbox-default-hello')
"""

from __future__ import annotations

import functools
import re
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobmagic.models import PARAM_NAME_PATTERN

__all__ = [
    "DEMO_DIR",
    "DEMO_JOBS_FILE",
    "JobCatalog",
    "JobSpec",
    "JobsFileError",
    "ParamDecl",
    "build_argv",
    "load_jobs",
    "parse_jobs",
    "template_slots",
]

#: The API's rule for param names.
#: Names of jobs, clusters and workspaces: lowercase DNS-like labels (they end up in ids).
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
#: ``{{ name }}`` param slots and ``{python}``-style placeholders, matched in one pass so a
#: filled-in value is never scanned again (a value containing ``{{x}}`` stays verbatim).
_TOKEN_RE = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}|\{(python|demo_dir|jobs_dir)\}")

_PLAIN_RE = re.compile(r"[\w@%+=:,./{}\-]+")

#: The demo jobs' folder, the sandbox package's own (``{demo_dir}``): ``demo_jobs.yaml`` and
#: ``demo_programs.py`` sit at its root, where the package data rule finds the YAML.
DEMO_DIR = Path(__file__).resolve().parents[1]
DEMO_JOBS_FILE = DEMO_DIR / "demo_jobs.yaml"

DEFAULT_CLUSTER = "sandbox"
DEFAULT_WORKSPACE = "default"


class JobsFileError(ValueError):
    """A jobs file that cannot be used; the message names the file, the job and the field."""


@dataclass(frozen=True)
class ParamDecl:
    """A param a job declares: its name, default (``None`` = required) and description."""

    name: str
    default: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """One declared job. Ids are derived from the FQN, so they are stable across restarts.

    ``command`` is the template: a string (split with :func:`shlex.split`) or an argv list.
    """

    name: str
    command: str | tuple[str, ...]
    cluster: str = DEFAULT_CLUSTER
    workspace: str = DEFAULT_WORKSPACE
    description: str | None = None
    params: tuple[ParamDecl, ...] = ()
    workdir: Path | None = None
    jobs_dir: Path | None = None

    @property
    def fqn(self) -> str:
        return f"{self.cluster}:{self.workspace}:{self.name}"

    @property
    def workspace_fqn(self) -> str:
        return f"{self.cluster}:{self.workspace}"

    @property
    def workspace_id(self) -> str:
        return f"ws-{self.cluster}-{self.workspace}"

    @property
    def application_id(self) -> str:
        return f"app-{self.cluster}-{self.workspace}-{self.name}"

    @property
    def deployment_id(self) -> str:
        return f"dep-{self.cluster}-{self.workspace}-{self.name}"

    @property
    def deployment_fqn(self) -> str:
        return f"{self.fqn}:1"

    def param(self, name: str) -> ParamDecl | None:
        return next((p for p in self.params if p.name == name), None)

    def template_tokens(self) -> list[str]:
        """The template as argv tokens, slots still unfilled."""
        return list(self._template_tokens)

    @functools.cached_property
    def _template_tokens(self) -> tuple[str, ...]:
        # Split once: every trigger of the job builds its argv from these.
        if isinstance(self.command, str):
            return tuple(shlex.split(self.command))
        return tuple(self.command)

    def display_command(self) -> str:
        """The template as a person would read it: ``{python}`` shown as ``python``."""
        placeholders = {**self.placeholders(), "python": "python"}
        tokens = (fill_token(token, {}, placeholders) for token in self.template_tokens())
        return " ".join(_display_quote(token) for token in tokens)

    def placeholders(self) -> dict[str, str]:
        """Values of the single-brace placeholders for this job."""
        return {
            "python": sys.executable,
            "demo_dir": str(DEMO_DIR),
            "jobs_dir": str(self.jobs_dir or Path.cwd()),
        }


def _display_quote(token: str) -> str:
    # Like shlex.quote, but leaves {{slots}} readable instead of wrapping them in quotes.
    return token if _PLAIN_RE.fullmatch(token) else shlex.quote(token)


def template_slots(tokens: Iterable[str]) -> list[str]:
    """The ``{{param}}`` names used in template tokens, in order of first use."""
    seen: dict[str, None] = {}
    for token in tokens:
        for match in _TOKEN_RE.finditer(token):
            if match.group(1) is not None:
                seen.setdefault(match.group(1), None)
    return list(seen)


def fill_token(token: str, params: Mapping[str, str], placeholders: Mapping[str, str]) -> str:
    """Fill one argv token. Slots without a value are left as written."""

    def replace(match: re.Match[str]) -> str:
        slot, placeholder = match.group(1), match.group(2)
        if placeholder is not None:
            return placeholders.get(placeholder, match.group(0))
        return params.get(slot, match.group(0))

    return _TOKEN_RE.sub(replace, token)


def build_argv(
    template: str | Sequence[str],
    params: Mapping[str, str],
    placeholders: Mapping[str, str] | None = None,
) -> list[str]:
    """Split the template into argv FIRST, then fill each token's slots.

    Splitting before filling is what keeps a value like ``; rm -rf ~`` one harmless argv item:
    no shell ever sees it. A list template is taken as argv as it is.
    Raises ``ValueError`` for a string template shlex cannot split (unbalanced quotes).
    """
    tokens = shlex.split(template) if isinstance(template, str) else list(template)
    if placeholders is None:
        placeholders = {"python": sys.executable, "demo_dir": str(DEMO_DIR)}
    return [fill_token(token, params, placeholders) for token in tokens]


# --- loading -------------------------------------------------------------------------


def load_jobs(path: str | Path | None = None) -> list[JobSpec]:
    """Read a jobs file; ``None`` means the built-in demo jobs. Raises :class:`JobsFileError`."""
    file = Path(path).expanduser().resolve() if path is not None else DEMO_JOBS_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobsFileError(f"Cannot read the jobs file {file}: {exc.strerror or exc}") from None
    return parse_jobs(text, source=str(file), jobs_dir=file.parent)


def parse_jobs(text: str, *, source: str = "<jobs>", jobs_dir: Path | None = None) -> list[JobSpec]:
    """Parse jobs YAML text (see the module docstring for the format)."""
    try:
        # BaseLoader: every scalar is text, and nothing but plain data can be built.
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise JobsFileError(f"{source} is not valid YAML: {exc}") from None
    defaults: Mapping[str, Any] = {}
    if isinstance(data, Mapping):
        defaults = data
        data = data.get("jobs")
    if not isinstance(data, list) or not data:
        raise JobsFileError(f"{source}: expected a non-empty list of jobs under `jobs:`")

    jobs = [_parse_job(entry, i, source, defaults, jobs_dir) for i, entry in enumerate(data)]
    _check_unique(jobs, source)
    return jobs


def _parse_job(
    entry: Any, index: int, source: str, defaults: Mapping[str, Any], jobs_dir: Path | None
) -> JobSpec:
    where = f"{source}: job #{index + 1}"
    if not isinstance(entry, Mapping):
        raise JobsFileError(f"{where} must be a mapping with at least `name` and `command`")
    name = entry.get("name")
    if isinstance(name, str):
        where = f"{source}: job {name!r}"
    unknown = set(entry) - {"name", "cluster", "workspace", "description", "command"}
    unknown -= {"params", "workdir"}
    if unknown:
        raise JobsFileError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")

    fields: dict[str, str] = {}
    for key, default in (
        ("name", None),
        ("cluster", defaults.get("cluster", DEFAULT_CLUSTER)),
        ("workspace", defaults.get("workspace", DEFAULT_WORKSPACE)),
    ):
        value = entry.get(key, default)
        if not isinstance(value, str) or not _NAME_RE.match(value):
            raise JobsFileError(
                f"{where}: `{key}` must be 2-40 lowercase letters, digits or dashes, "
                f"starting with a letter (got {value!r})"
            )
        fields[key] = value

    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise JobsFileError(f"{where}: `description` must be text")

    command = _parse_command(entry.get("command"), where)
    params = _parse_params(entry.get("params", []), where)
    tokens = shlex.split(command) if isinstance(command, str) else list(command)
    declared = {p.name for p in params}
    undeclared = [slot for slot in template_slots(tokens) if slot not in declared]
    if undeclared:
        raise JobsFileError(
            f"{where}: the command uses {', '.join('{{' + s + '}}' for s in undeclared)} "
            "but no such param is declared"
        )

    workdir = entry.get("workdir")
    if workdir is not None and not isinstance(workdir, str):
        raise JobsFileError(f"{where}: `workdir` must be a path")
    base = jobs_dir or Path.cwd()
    return JobSpec(
        name=fields["name"],
        cluster=fields["cluster"],
        workspace=fields["workspace"],
        description=description,
        command=command,
        params=params,
        workdir=(base / workdir).resolve() if workdir else None,
        jobs_dir=jobs_dir,
    )


def _parse_command(value: Any, where: str) -> str | tuple[str, ...]:
    if isinstance(value, str):
        try:
            tokens = shlex.split(value)
        except ValueError as exc:
            raise JobsFileError(f"{where}: `command` cannot be split into words: {exc}") from None
        if tokens:
            return value
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise JobsFileError(f"{where}: `command` must be a non-empty string or list of strings")


def _parse_params(value: Any, where: str) -> tuple[ParamDecl, ...]:
    if value == "":  # `params:` with nothing after it
        return ()
    if not isinstance(value, list):
        raise JobsFileError(f"{where}: `params` must be a list of {{name, default, description}}")
    params: list[ParamDecl] = []
    for item in value:
        if isinstance(item, str):  # shorthand: a bare name is a required param
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise JobsFileError(f"{where}: each param must be a mapping with a `name`")
        unknown = set(item) - {"name", "default", "description"}
        if unknown:
            raise JobsFileError(f"{where}: param has unknown field(s) {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not PARAM_NAME_PATTERN.match(name):
            raise JobsFileError(
                f"{where}: param name {name!r} must match {PARAM_NAME_PATTERN.pattern} "
                "(2-32 characters: lowercase letters, digits, - and _)"
            )
        if any(p.name == name for p in params):
            raise JobsFileError(f"{where}: param {name!r} is declared twice")
        default, description = item.get("default"), item.get("description")
        if default is not None and not isinstance(default, str):
            raise JobsFileError(f"{where}: the default of {name!r} must be a single value")
        if description is not None and not isinstance(description, str):
            raise JobsFileError(f"{where}: the description of {name!r} must be text")
        params.append(ParamDecl(name=name, default=default, description=description))
    return tuple(params)


def _check_unique(jobs: Sequence[JobSpec], source: str) -> None:
    # Ids join names with dashes, so two different FQNs could map to one id; refuse both.
    for attribute in ("fqn", "application_id"):
        seen: set[str] = set()
        for job in jobs:
            key = getattr(job, attribute)
            if key in seen:
                raise JobsFileError(f"{source}: two jobs share the {attribute} {key!r}")
            seen.add(key)


# --- lookup --------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCatalog:
    """The declared jobs, found by application id, deployment id or FQN."""

    jobs: tuple[JobSpec, ...]
    _by_app: Mapping[str, JobSpec] = field(init=False, repr=False)
    _by_dep: Mapping[str, JobSpec] = field(init=False, repr=False)
    _by_fqn: Mapping[str, JobSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_app", {j.application_id: j for j in self.jobs})
        object.__setattr__(self, "_by_dep", {j.deployment_id: j for j in self.jobs})
        object.__setattr__(self, "_by_fqn", {j.fqn: j for j in self.jobs})

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def by_application_id(self, application_id: str) -> JobSpec | None:
        return self._by_app.get(application_id)

    def by_deployment_id(self, deployment_id: str) -> JobSpec | None:
        return self._by_dep.get(deployment_id)

    def by_fqn(self, fqn: str) -> JobSpec | None:
        # A deployment FQN (``cluster:workspace:app:version``) names its application too.
        job = self._by_fqn.get(fqn)
        if job is None and fqn.count(":") == 3:
            job = self._by_fqn.get(fqn.rsplit(":", 1)[0])
        return job
