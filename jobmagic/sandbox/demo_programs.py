"""The built-in demo jobs' programs, run by the sandbox as ``python -u demo_programs.py JOB ...``.

This file is executed as a script by path (not imported as ``jobmagic.sandbox...``), so it
uses the standard library only and works wherever the sandbox's interpreter runs.

    $ python -u demo_programs.py hello --name Ada
    hello Ada
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["MLRunLogger", "fail", "hello", "hostile", "main", "sleep", "train"]


def hello(args: argparse.Namespace) -> int:
    print(f"hello {args.name}", flush=True)
    return 0


def train(args: argparse.Namespace) -> int:
    try:
        lr = float(args.lr)
        epochs = int(args.epochs)
    except ValueError:
        print(
            f"error: lr must be a number and epochs an integer, got lr={args.lr!r} "
            f"epochs={args.epochs!r}",
            file=sys.stderr,
            flush=True,
        )
        return 2
    if epochs < 0:
        print("error: epochs must not be negative", file=sys.stderr, flush=True)
        return 2
    tracker = MLRunLogger.from_env(args.ml_repo, {"lr": args.lr, "epochs": args.epochs})
    loss = 1.0
    for epoch in range(1, epochs + 1):
        time.sleep(args.epoch_seconds)
        # A made-up but plausible curve: decays faster with a larger learning rate.
        loss = math.exp(-epoch * max(lr, 1e-6) * 20) + 0.05 / epoch
        accuracy = max(0.0, min(1.0, 1.0 - 0.8 * loss))
        print(f"epoch={epoch} loss={loss:.4f}", flush=True)
        if tracker is not None:
            tracker.log(epoch, {"loss": loss, "accuracy": accuracy})
    if tracker is not None:
        tracker.finish()
    return 0


class MLRunLogger:
    """Logs metrics to an ML run over TrueFoundry's HTTP API, as ``truefoundry.ml`` would.

    The run is tagged with the pod's ``TFY_INTERNAL_JOB_RUN_NAME`` and
    ``TFY_INTERNAL_APPLICATION_ID``, so the job run's metrics can be found by tag. Tracking is
    best effort: a failed call is reported on stderr once and training goes on without it.
    """

    def __init__(self, host: str, token: str, run_id: str) -> None:
        self._base = host.rstrip("/") + "/api/svc/v1"
        self._token = token
        self.run_id = run_id

    @classmethod
    def from_env(cls, repo: str, params: dict[str, str]) -> MLRunLogger | None:
        host, token = os.environ.get("TFY_HOST"), os.environ.get("TFY_API_KEY")
        job_run = os.environ.get("TFY_INTERNAL_JOB_RUN_NAME")
        if not host or not token or not job_run:
            return None
        tags = {
            "TFY_INTERNAL_JOB_RUN_NAME": job_run,
            "TFY_INTERNAL_APPLICATION_ID": os.environ.get("TFY_INTERNAL_APPLICATION_ID", ""),
        }
        logger = cls(host, token, "")
        try:
            repos = logger._call("GET", "/ml-repos?" + urllib.parse.urlencode({"name": repo}))
            if not repos["data"]:
                raise LookupError(f"no ML repo named {repo!r}")
            run = logger._call(
                "POST",
                "/runs",
                {
                    "experiment_id": repos["data"][0]["id"],
                    "name": job_run,
                    "tags": [{"key": k, "value": v} for k, v in tags.items()],
                },
            )
            logger.run_id = run["run"]["info"]["run_id"]
            params_body = [{"key": k, "value": v} for k, v in params.items()]
            logger._call("POST", f"/runs/{logger.run_id}/batch", {"params": params_body})
        except (OSError, LookupError, KeyError, ValueError) as exc:
            print(f"warning: metrics are not tracked: {exc}", file=sys.stderr, flush=True)
            return None
        return logger

    def log(self, step: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        body: dict[str, object] = {
            "metrics": [
                {"key": k, "value": v, "timestamp": now, "step": step} for k, v in metrics.items()
            ]
        }
        self._quietly("POST", f"/runs/{self.run_id}/batch", body)

    def finish(self) -> None:
        self._quietly("PUT", f"/runs/{self.run_id}", {"status": "FINISHED"})

    def _quietly(self, method: str, path: str, body: dict[str, object]) -> None:
        try:
            self._call(method, path, body)
        except (OSError, ValueError) as exc:
            print(f"warning: could not log metrics: {exc}", file=sys.stderr, flush=True)

    def _call(self, method: str, path: str, body: dict[str, object] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Content-Type", "application/json")
        # No proxies: the platform is reached directly, as from inside a cluster.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")


def fail(args: argparse.Namespace) -> int:
    print("starting, then failing on purpose", flush=True)
    print("error: something went wrong (this demo job always fails)", file=sys.stderr, flush=True)
    return 3


def sleep(args: argparse.Namespace) -> int:
    seconds = float(args.seconds)
    print(f"sleeping {args.seconds} s", flush=True)
    time.sleep(max(0.0, seconds))
    print("done", flush=True)
    return 0


def hostile(args: argparse.Namespace) -> int:
    """Prints what a job may print and a view must not pass on, then fails with it too:
    ANSI colours, a terminal title (OSC), cursor moves, NUL, BEL, C1 controls, markup and
    every byte value (invalid UTF-8 included)."""
    out = sys.stdout.buffer
    lines = [
        f"note: {args.note}".encode("utf-8", "surrogateescape"),
        b"\x1b[31mred\x1b[0m and \x1b[1;32mbold green\x1b[m text",
        b"\x1b]0;hostile title\x07after an OSC title (BEL)",
        b"\x1b]2;another title\x1b\\after an OSC title (ST)",
        b"\x1b[2J\x1b[H\x1b[3Acursor moves and a cleared screen",
        b"nul:\x00 bel:\x07 backspace:\x08 vt:\x0b ff:\x0c del:\x7f",
        "c1: \u009b31m \u009d0;c1 title\u009c \u0085".encode(),
        b"progress 10%\rprogress 50%\rprogress 100%",
        b"<script>alert(1)</script> & </pre> \"quoted\" 'single'",
        b"half an escape: \x1b[",
    ]
    for line in lines:
        out.write(line + b"\r\n")
    out.write(b"bytes: " + bytes(range(256)) + b"\n")
    out.flush()
    sys.stderr.buffer.write(
        b"\x1b[1;31merror:\x1b[0m \x1b]0;owned\x07boom\x00\x07 <b>bad</b> & \x9b\xff\n"
    )
    sys.stderr.flush()
    return 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_programs")
    commands = parser.add_subparsers(dest="job", required=True)
    commands.add_parser("hello").add_argument("--name", default="world")
    train_parser = commands.add_parser("train")
    train_parser.add_argument("--lr", default="0.01")
    train_parser.add_argument("--epochs", default="3")
    train_parser.add_argument("--epoch-seconds", type=float, default=0.5)
    train_parser.add_argument("--ml-repo", default="demo", help="the ML repo to log metrics to")
    commands.add_parser("fail")
    commands.add_parser("sleep").add_argument("--seconds", default="600")
    commands.add_parser("hostile").add_argument("--note", default="none")
    args = parser.parse_args(argv)
    programs = {
        "hello": hello,
        "train": train,
        "fail": fail,
        "sleep": sleep,
        "hostile": hostile,
    }
    return programs[args.job](args)


if __name__ == "__main__":
    sys.exit(main())
