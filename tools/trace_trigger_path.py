"""Count the jobmagic calls between a ``%%trigger_job -q`` cell and its trigger request.

A real InteractiveShell with the extension loaded triggers ``sandbox:demo:hello`` against a
throwaway sandbox (in this process, its own threads). After one warm-up cell (so imports do
not count), ``sys.setprofile`` counts every jobmagic frame entered in this thread — calls
and generator resumes, the sandbox's code excluded — from the magic being called until
httpx sends the ``POST …/jobs/trigger``. The modules are listed in the order they are
entered, consecutive visits merged, so a reader sees how often the path doubles back.

    python tools/trace_trigger_path.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import jobmagic

PACKAGE = Path(jobmagic.__file__).resolve().parent
SANDBOX = PACKAGE / "sandbox"
CELL_LINE, CELL_BODY = "sandbox:demo:hello -q", "name: Ada\n"


class PathTrace:
    """A profile function: jobmagic frames from the magic's entry to the trigger's send."""

    def __init__(self) -> None:
        self.active = False
        self.done = False
        self.calls = 0
        self.functions: set[tuple[str, str]] = set()
        self.modules: list[str] = []
        self.frames: dict[str, int] = {}

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or self.done:
            return
        code = frame.f_code
        if not self.active:
            self.active = code.co_name == "trigger_job" and code.co_filename.endswith("magics.py")
        if not self.active:
            return
        if code.co_name == "send" and "httpx" in code.co_filename:
            request = frame.f_locals.get("request")
            if request is not None and str(request.url.path).endswith("/jobs/trigger"):
                self.done = True
            return
        path = Path(code.co_filename)
        if PACKAGE not in path.parents or SANDBOX in path.parents:
            return
        self.calls += 1
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        self.functions.add((module, code.co_name))
        self.frames[module] = self.frames.get(module, 0) + 1
        if not self.modules or self.modules[-1] != module:
            self.modules.append(module)


def traced(run: Callable[[], object]) -> PathTrace:
    trace = PathTrace()
    sys.setprofile(trace)
    try:
        run()
    finally:
        sys.setprofile(None)
    return trace


def main() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from jobmagic.sandbox import SandboxServer

    with tempfile.TemporaryDirectory() as tmp, SandboxServer(Path(tmp) / "sandbox") as sandbox:
        os.environ.update(TFY_HOST=sandbox.host, TFY_API_KEY=sandbox.token)
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "jobmagic")
        shell.run_line_magic("config", f"JobMagic.ledger_path = {str(Path(tmp) / 'l.db')!r}")
        shell.run_line_magic("config", "JobMagic.show_cards = False")
        try:
            shell.run_cell_magic("trigger_job", CELL_LINE, CELL_BODY)  # warm-up: imports
            trace = traced(lambda: shell.run_cell_magic("trigger_job", CELL_LINE, CELL_BODY))
        finally:
            shell.run_line_magic("unload_ext", "jobmagic")
    if not trace.done:
        raise SystemExit("the trigger request was never sent")
    visits: dict[str, int] = {}
    for module in trace.modules:
        visits[module] = visits.get(module, 0) + 1
    print(f"%%trigger_job {CELL_LINE} -> POST /jobs/trigger")
    print(f"jobmagic frames entered: {trace.calls} ({len(trace.functions)} distinct functions)")
    print("modules in order: " + " > ".join(trace.modules))
    print("visits per module: " + ", ".join(f"{m} {n}" for m, n in sorted(visits.items())))
    print("frames per module: " + ", ".join(f"{m} {n}" for m, n in sorted(trace.frames.items())))
    outside = sum(n for m, n in trace.frames.items() if not m.startswith("jobmagic.params"))
    print(f"frames outside the params parser: {outside}")


if __name__ == "__main__":
    main()
