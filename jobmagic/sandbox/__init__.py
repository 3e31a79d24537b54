"""A local control plane speaking TrueFoundry's Jobs API, running jobs as local processes.

>>> from jobmagic.sandbox import SandboxServer, Fault       # doctest: +SKIP
>>> with SandboxServer("/tmp/sb") as sandbox:               # doctest: +SKIP
...     print(sandbox.host, sandbox.token)

Modules: ``jobs`` (declarations), ``store`` (SQLite), ``runner`` (child processes, with
``launcher`` and its helper process ``launch_helper`` starting, signalling and reaping them,
and ending them if the sandbox dies, ``watcher`` reading their output, ``writer`` storing
it), ``service`` (the API's operations), ``app`` (the route table), ``handlers`` and
``admin`` (the endpoints), ``guard`` (stats, faults and auth: the one middleware), ``query``
(reading requests), ``faults`` (fault injection and request counts), ``transport`` (dropping
connections), ``server`` (in-process server), ``process`` (the sandbox as its own process),
``address`` (the address file), ``render`` (JSON shapes), ``events`` (the Kubernetes-like
events of a run's pod).

Importing this package is cheap: the web stack (starlette, uvicorn) is loaded only when a
server name is first used, so ``read_sandbox_address`` works without the ``sandbox`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._lazy import lazy_attributes
from jobmagic.sandbox.address import SandboxAddress, read_sandbox_address
from jobmagic.sandbox.errors import ApiError, SandboxError
from jobmagic.sandbox.faults import ENDPOINTS, Fault
from jobmagic.sandbox.jobs import JobsFileError, JobSpec, ParamDecl, load_jobs

if TYPE_CHECKING:
    from jobmagic.sandbox.process import (
        SandboxProcess,
        ensure_sandbox_process,
        start_sandbox_process,
    )
    from jobmagic.sandbox.server import SandboxServer, generate_token

__all__ = [
    "ENDPOINTS",
    "ApiError",
    "Fault",
    "JobSpec",
    "JobsFileError",
    "ParamDecl",
    "SandboxAddress",
    "SandboxError",
    "SandboxProcess",
    "SandboxServer",
    "ensure_sandbox_process",
    "generate_token",
    "load_jobs",
    "read_sandbox_address",
    "start_sandbox_process",
]

_LAZY = {
    "SandboxProcess": "jobmagic.sandbox.process",
    "SandboxServer": "jobmagic.sandbox.server",
    "ensure_sandbox_process": "jobmagic.sandbox.process",
    "generate_token": "jobmagic.sandbox.server",
    "start_sandbox_process": "jobmagic.sandbox.process",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
