"""``make demo`` / ``jobmagic demo``: the whole product, end to end, with no account.

It starts a sandbox, executes ``notebooks/01-quickstart.ipynb`` headlessly
against it, prints what the notebook triggered (names, statuses, exit codes,
read back from the sandbox), writes the executed notebook and its HTML export,
and stops the sandbox.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jobmagic.models import JobRun

__all__ = ["DemoReport", "run_demo"]

#: The repository's quickstart notebook (jobmagic/cli/ is two levels below the repository).
DEFAULT_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-quickstart.ipynb"


@dataclass(frozen=True)
class DemoReport:
    notebook: Path
    html: Path
    runs: list[JobRun]
    seconds: float

    def summary(self) -> str:
        lines = [f"jobmagic demo: the quickstart notebook ran in {self.seconds:.1f} s"]
        lines.append(f"  {len(self.runs)} runs triggered on the sandbox:")
        for run in self.runs:
            code = "-" if run.exit_code is None else str(run.exit_code)
            lines.append(
                f"    {run.name:<22} {run.application_name or '':<8} {run.status!s:<11} exit {code}"
            )
        lines.append(f"  executed notebook: {self.notebook}")
        lines.append(f"  HTML export:       {self.html}")
        return "\n".join(lines)


def run_demo(out_dir: Path, notebook: Path = DEFAULT_NOTEBOOK, timeout: int = 180) -> DemoReport:
    """Execute ``notebook`` against a fresh sandbox under ``out_dir``; return what ran."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    from jobmagic.api import JobsClient
    from jobmagic.ledger import LEDGER_FILENAME, Ledger
    from jobmagic.sandbox import ensure_sandbox_process

    out_dir = out_dir.resolve()
    home = out_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    # The kernel gets a private JOBMAGIC_HOME: its `%jobmagic sandbox start` finds the
    # sandbox started here, and its ledger is the one read back below.
    env_overrides = {"JOBMAGIC_HOME": str(home)}
    previous = {k: os.environ.get(k) for k in env_overrides}
    os.environ.update(env_overrides)
    started = time.perf_counter()
    sandbox = ensure_sandbox_process(home / "sandbox")
    try:
        nb = nbformat.read(notebook, as_version=4)
        # Over a Unix socket, not TCP: ipykernel warns that a TCP kernel is unencrypted, and
        # the demo's kernel talks only to this process.
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(home / "kernel"))
        client = NotebookClient(
            nb,
            km=km,
            kernel_name="python3",
            timeout=timeout,
            store_widget_state=True,
            resources={"metadata": {"path": str(notebook.parent)}},
        )
        try:
            client.execute()
        finally:
            if km.has_kernel:  # a kernel manager handed in is the caller's to shut down
                km.shutdown_kernel(now=False)
        executed = out_dir / notebook.name
        nbformat.write(nb, executed)
        # nbconvert's own HTML exporter, as a user's pipeline runs it: each view's static copy
        # is an output of its own (jobmagic.widgets.live), so no exporter setting is needed.
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nb)
        html_path = executed.with_suffix(".html")
        html_path.write_text(body, encoding="utf-8")
        with Ledger(home / LEDGER_FILENAME) as ledger:
            entries = [e for e in ledger.entries() if e.run is not None and e.application_id]
        runs: list[JobRun] = []
        with JobsClient(sandbox.host, sandbox.token) as api:
            for entry in reversed(entries):
                assert entry.application_id is not None and entry.run_name is not None
                runs.append(api.get_run(entry.application_id, entry.run_name))
    finally:
        sandbox.stop()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return DemoReport(executed, html_path, runs, time.perf_counter() - started)


def main(out_dir: str) -> int:
    try:
        report = run_demo(Path(out_dir))
    except Exception as exc:
        print(f"jobmagic demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
