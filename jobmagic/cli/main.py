"""The ``jobmagic`` command.

::

    jobmagic sandbox [--port P] [--token T] [--data-dir D] [--jobs FILE] [--grace S]
    jobmagic sandbox status [--data-dir D] [--env]
    jobmagic sandbox stop [--data-dir D]

Each subcommand is registered by an ``add_<name>_parser(subparsers)`` function that sets
``func`` (returning the exit code) on its parser; :func:`build_parser` calls them all, so a
new subcommand is one more such function.

>>> build_parser().parse_args(["sandbox", "--port", "8123"]).port
8123
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from jobmagic._version import __version__
from jobmagic.cli.demo import main as demo_main
from jobmagic.config import jobmagic_home

__all__ = ["add_sandbox_parser", "banner_lines", "build_parser", "main"]

_TOKEN_ENV = "JOBMAGIC_SANDBOX_TOKEN"  # the same name as jobmagic.sandbox.serving.process.TOKEN_ENV
_LOG_LEVELS = ("debug", "info", "warning", "error")


def _default_data_dir() -> Path:
    return jobmagic_home() / "sandbox"


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir).expanduser() if args.data_dir else _default_data_dir()


# --- jobmagic sandbox ------------------------------------------------------------------


def add_sandbox_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``jobmagic sandbox`` (serve), ``jobmagic sandbox status``, ``jobmagic sandbox stop``."""
    sandbox = subparsers.add_parser(
        "sandbox",
        help="run a local control plane that speaks TrueFoundry's Jobs API",
        description=(
            "Serve TrueFoundry's Jobs API on 127.0.0.1, running the declared jobs as local "
            "processes. Without --jobs, the demo jobs "
            "sandbox:demo:{hello,train,fail,sleep,hostile,flood}."
        ),
    )
    data_dir_help = "where runs, logs and the address file live (default: $JOBMAGIC_HOME/sandbox)"
    sandbox.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: any free)"
    )
    sandbox.add_argument(
        "--token",
        help=f"the API token to require (default: ${_TOKEN_ENV}, else a generated tfy_… token)",
    )
    sandbox.add_argument("--data-dir", help=data_dir_help)
    sandbox.add_argument("--jobs", metavar="FILE", help="YAML file declaring the jobs")
    sandbox.add_argument(
        "--grace",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds between SIGTERM and SIGKILL when a run is terminated (default: 3)",
    )
    sandbox.add_argument("--access-log", action="store_true", help="log every request")
    sandbox.add_argument(
        "--log-level",
        choices=_LOG_LEVELS,
        default="info",
        help="how much the sandbox logs (default: info; debug includes uvicorn's)",
    )
    sandbox.set_defaults(func=_serve)

    actions = sandbox.add_subparsers(dest="action", metavar="{status,stop}")
    status = actions.add_parser("status", help="say whether a sandbox is running, and where")
    # SUPPRESS: `jobmagic sandbox --data-dir D status` keeps D instead of a None default.
    status.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_dir_help)
    status.add_argument(
        "--env", action="store_true", help="also print the TFY_HOST / TFY_API_KEY lines"
    )
    status.set_defaults(func=_status)
    stop = actions.add_parser("stop", help="stop the running sandbox (SIGTERM)")
    stop.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_dir_help)
    stop.add_argument("--timeout", type=float, default=15.0, help="seconds to wait (default: 15)")
    stop.set_defaults(func=_stop)


def _serve(args: argparse.Namespace) -> int:
    import logging

    from jobmagic.sandbox import JobsFileError, SandboxError, SandboxServer

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token = args.token or os.environ.get(_TOKEN_ENV) or None
    data_dir = _data_dir(args)
    try:
        server = SandboxServer(
            data_dir,
            token=token,
            port=args.port,
            jobs_file=args.jobs,
            grace_period=args.grace,
            log_level="debug"
            if args.log_level == "debug"
            else ("info" if args.access_log else "warning"),
            access_log=args.access_log,
            embedded=False,
        )
    except JobsFileError as exc:
        print(f"jobmagic sandbox: {exc}", file=sys.stderr)
        return 2

    # A plain flag, not a threading.Event: the handler runs in the main thread between two
    # bytecodes, possibly while that thread holds the Event's own lock inside wait(), and
    # Event.set() would then wait for that lock forever (seen: a sandbox deaf to SIGTERM).
    stop: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    # Handlers first: a SIGTERM that arrives while starting must still stop cleanly.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except SandboxError as exc:
            print(f"jobmagic sandbox: {exc}", file=sys.stderr)
            return 1
        for line in banner_lines(
            server.host,
            server.token,
            data_dir,
            [job.fqn for job in server.jobs],
            show_token=sys.stdout.isatty(),
        ):
            print(line)
        if server.recovered_runs:
            print(
                f"Marked {len(server.recovered_runs)} run(s) left running by an earlier "
                "sandbox as FAILED (sandbox stopped)."
            )
        sys.stdout.flush()
        while not stop:
            time.sleep(0.2)  # a signal ends the sleep early, and its handler has run then
            if stop:
                break
            if not server.running:
                print("jobmagic sandbox: the server stopped unexpectedly", file=sys.stderr)
                return 1
        print("Stopping: terminating running jobs…", flush=True)
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def banner_lines(
    host: str, token: str, data_dir: Path, fqns: Sequence[str], *, show_token: bool
) -> list[str]:
    """What ``jobmagic sandbox`` prints when it is up.

    The token is shown only when ``show_token`` (stdout is a terminal): there it is for the
    person who started this sandbox and needs it to connect. Redirected output is a file
    (the launcher's ``sandbox.log``, a CI log) that outlives the sandbox, so it never gets
    the token; ``jobmagic sandbox status --env`` prints it on demand.

    >>> lines = banner_lines("http://127.0.0.1:1", "tfy_secret", Path("d"), [], show_token=False)
    >>> any("tfy_secret" in line for line in lines)
    False
    """
    key_line = (
        f"TFY_API_KEY={token}"
        if show_token
        else "TFY_API_KEY is not shown here (output is not a terminal); "
        "`jobmagic sandbox status --env` prints it."
    )
    return [
        f"jobmagic sandbox {__version__} serving TrueFoundry's Jobs API at {host}",
        f"data dir: {data_dir}",
        f"jobs: {', '.join(fqns)}",
        "Point jobmagic (or TrueFoundry's own SDK) at it with:",
        f"TFY_HOST={host}",
        key_line,
        "Stop with Ctrl-C or `jobmagic sandbox stop`.",
    ]


def _status(args: argparse.Namespace) -> int:
    from jobmagic.sandbox import read_sandbox_address

    data_dir = _data_dir(args)
    address = read_sandbox_address(data_dir)
    if address is None:
        print(f"No sandbox is running for {data_dir}.")
        return 1
    where = "inside another program" if address.embedded else "as its own process"
    print(f"Sandbox running at {address.host} (pid {address.pid}, {where}); data dir {data_dir}.")
    if args.env:
        print(f"TFY_HOST={address.host}")
        print(f"TFY_API_KEY={address.token}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from jobmagic.sandbox import pid_alive, read_sandbox_address

    data_dir = _data_dir(args)
    address = read_sandbox_address(data_dir)
    if address is None:
        print(f"No sandbox is running for {data_dir}.")
        return 0
    if address.embedded:
        print(
            f"The sandbox at {address.host} runs inside process {address.pid} (a notebook or "
            "a test); stop it there, e.g. `%jobmagic sandbox stop`.",
            file=sys.stderr,
        )
        return 1
    os.kill(address.pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while pid_alive(address.pid) and read_sandbox_address(data_dir) is not None:
        if time.monotonic() > deadline:
            print(f"The sandbox (pid {address.pid}) did not stop within {args.timeout} s.")
            return 1
        time.sleep(0.1)
    print(f"Stopped the sandbox at {address.host} (pid {address.pid}).")
    return 0


# --- demo and lab -------------------------------------------------------------------------


def add_demo_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the quickstart notebook end to end against a fresh local sandbox"
    )
    demo.add_argument("--out", default="artifacts/demo", help="where results are written")
    demo.set_defaults(func=lambda args: _run_demo(args.out))


def _run_demo(out: str) -> int:
    return demo_main(out)


def add_lab_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lab = subparsers.add_parser(
        "lab",
        help="JupyterLab on a folder, with a sandbox running",
        description=(
            "JupyterLab on FOLDER with a local sandbox running; its notebooks reach it through "
            "TFY_HOST / TFY_API_KEY. As root (containers, Binder-like images) it adds "
            "--allow-root by itself. Arguments after -- go to JupyterLab as they are."
        ),
    )
    lab.add_argument("folder", nargs="?", default="notebooks", help="default: notebooks")
    lab.add_argument("--port", type=int, help="the port to serve on (default: Jupyter's)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.set_defaults(func=_run_lab)


def lab_command(
    folder: str,
    *,
    port: int | None = None,
    no_browser: bool = False,
    extra: Sequence[str] = (),
    as_root: bool | None = None,
) -> list[str]:
    """The JupyterLab command ``jobmagic lab`` runs.

    >>> lab_command("notebooks", port=8899, no_browser=True, as_root=True)[3:]
    ['--ServerApp.root_dir=notebooks', '--port=8899', '--no-browser', '--allow-root']
    """
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}"]
    if port is not None:
        command.append(f"--port={port}")
    if no_browser:
        command.append("--no-browser")
    root = os.geteuid() == 0 if as_root is None else as_root
    if root and "--allow-root" not in extra:
        command.append("--allow-root")  # Jupyter refuses root without it
    return [*command, *extra]


def _run_lab(args: argparse.Namespace) -> int:
    import subprocess

    from jobmagic.sandbox import ensure_sandbox_process

    command = lab_command(
        args.folder, port=args.port, no_browser=args.no_browser, extra=args.jupyter_args
    )
    sandbox = ensure_sandbox_process(_default_data_dir())
    env = dict(os.environ, TFY_HOST=sandbox.host, TFY_API_KEY=sandbox.token)
    print(f"Sandbox at {sandbox.host}; notebooks use it through TFY_HOST/TFY_API_KEY.")
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        sandbox.stop()


# --- the command -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``jobmagic`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="jobmagic", description="Trigger and watch TrueFoundry jobs; run a local sandbox."
    )
    parser.add_argument("--version", action="version", version=f"jobmagic {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_sandbox_parser(subparsers)
    add_demo_parser(subparsers)
    add_lab_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jobmagic``; returns the exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # `jobmagic lab … -- ARGS`: what follows -- goes to JupyterLab untouched.
    passed = words[words.index("--") + 1 :] if "--" in words else []
    args = parser.parse_args(words[: words.index("--")] if "--" in words else words)
    args.jupyter_args = passed
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args))


if __name__ == "__main__":
    raise SystemExit(main())
