"""A local control plane speaking TrueFoundry's Jobs API, running jobs as local processes.

>>> from jobmagic.sandbox import SandboxServer, Fault       # doctest: +SKIP
>>> with SandboxServer("/tmp/sb") as sandbox:               # doctest: +SKIP
...     print(sandbox.host, sandbox.token)

Modules: ``jobs`` (declarations), ``store`` (SQLite), ``runner`` (child processes),
``service`` (the API's operations), ``app`` (HTTP routes), ``faults`` (fault injection and
request counts), ``transport`` (dropping connections), ``server`` (in-process server and
separate-process launcher), ``address`` (the address file), ``render`` (JSON shapes),
``events`` (the Kubernetes-like events of a run's pod).

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
    from jobmagic.sandbox.server import (
        SandboxProcess,
        SandboxServer,
        default_data_dir,
        ensure_sandbox_process,
        generate_token,
        start_sandbox_process,
    )

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
    "default_data_dir",
    "ensure_sandbox_process",
    "generate_token",
    "load_jobs",
    "read_sandbox_address",
    "start_sandbox_process",
]

_LAZY = {
    "SandboxProcess": "jobmagic.sandbox.server",
    "SandboxServer": "jobmagic.sandbox.server",
    "default_data_dir": "jobmagic.sandbox.server",
    "ensure_sandbox_process": "jobmagic.sandbox.server",
    "generate_token": "jobmagic.sandbox.server",
    "start_sandbox_process": "jobmagic.sandbox.server",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
