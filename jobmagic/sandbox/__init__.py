"""A local control plane speaking TrueFoundry's Jobs API, running jobs as local processes.

>>> from jobmagic.sandbox import SandboxServer, Fault       # doctest: +SKIP
>>> with SandboxServer("/tmp/sb") as sandbox:               # doctest: +SKIP
...     print(sandbox.host, sandbox.token)

Sub-packages, in layers (each imports only those below it, and ``errors``):

* ``storage``: records, the SQLite store, the log writer, private files;
* ``processes``: runs as child processes (runner, launcher and its helper program, watcher,
  pod events);
* ``service``: the API's operations without HTTP (job catalog, Jobs API, ML runs, JSON);
* ``web``: the Starlette app (route table, handlers, admin, the guard middleware, faults);
* ``serving``: :class:`SandboxServer` in this process, :class:`SandboxProcess` as its own,
  and the address file other processes find it by.

``errors`` (:class:`ApiProblem`, :class:`SandboxError`) sits below them all; ``demo_jobs.yaml``
and ``demo_programs.py`` are the built-in demo jobs.

Importing this package is cheap: the web stack (starlette, uvicorn) is loaded only when a
server name is first used, so ``read_sandbox_address`` works without the ``sandbox`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._lazy import lazy_attributes
from jobmagic.sandbox.errors import ApiProblem, SandboxError
from jobmagic.sandbox.service.catalog import JobsFileError, JobSpec, ParamDecl, load_jobs
from jobmagic.sandbox.serving.address import SandboxAddress, pid_alive, read_sandbox_address
from jobmagic.sandbox.web.faults import ENDPOINTS, Fault

if TYPE_CHECKING:
    from jobmagic.sandbox.serving.process import (
        SandboxProcess,
        ensure_sandbox_process,
        start_sandbox_process,
    )
    from jobmagic.sandbox.serving.server import SandboxServer, generate_token

__all__ = [
    "ENDPOINTS",
    "ApiProblem",
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
    "pid_alive",
    "read_sandbox_address",
    "start_sandbox_process",
]

_LAZY = {
    "SandboxProcess": "jobmagic.sandbox.serving.process",
    "SandboxServer": "jobmagic.sandbox.serving.server",
    "ensure_sandbox_process": "jobmagic.sandbox.serving.process",
    "generate_token": "jobmagic.sandbox.serving.server",
    "start_sandbox_process": "jobmagic.sandbox.serving.process",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
