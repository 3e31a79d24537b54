"""The world the docstring examples in ``jobmagic/`` run in (``--doctest-modules``).

An example of the public API (``jobmagic.trigger(...)``, ``run.wait()``) is run as written,
as a user would in a notebook: in an IPython shell with ``%load_ext jobmagic``, pointed at a
real sandbox serving the demo jobs. The shell, the sandbox and the ledger are the tests'
own, in temporary folders; tests under ``tests/`` have their fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.doctest import DoctestItem

if TYPE_CHECKING:
    from jobmagic.sandbox import SandboxServer


@pytest.fixture(scope="session")
def _examples_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    from jobmagic.sandbox import SandboxServer

    with SandboxServer(tmp_path_factory.mktemp("examples-sandbox"), grace_period=1.0) as server:
        yield server


@pytest.fixture(autouse=True)
def _examples_shell(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """For a docstring example only: a shell with jobmagic loaded, on the examples' sandbox."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    from IPython.core.interactiveshell import InteractiveShell

    server: SandboxServer = request.getfixturevalue("_examples_sandbox")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    namespace: dict[str, Any] = request.getfixturevalue("doctest_namespace")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("JOBMAGIC_HOME", str(tmp_path / ".jobmagic"))
    monkeypatch.setenv("TFY_HOST", server.host)
    monkeypatch.setenv("TFY_API_KEY", server.token)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jobmagic")
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    shell.run_line_magic("config", "JobMagic.poll_interval = 0.2")
    import jobmagic

    namespace.update(jobmagic=jobmagic, sandbox=server)
    try:
        yield
    finally:
        shell.run_line_magic("unload_ext", "jobmagic")
