"""The built-in demo jobs' programs, run by the sandbox as ``python -u demo_programs.py JOB ...``.

This file is executed as a script by path (not imported as ``jobmagic.sandbox...``), so it
uses the standard library only and works wherever the sandbox's interpreter runs.

    $ python -u demo_programs.py hello --name Ada
    hello Ada
"""

from __future__ import annotations

import argparse
import math
import sys
import time


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
    loss = 1.0
    for epoch in range(1, epochs + 1):
        time.sleep(args.epoch_seconds)
        # A made-up but plausible curve: decays faster with a larger learning rate.
        loss = math.exp(-epoch * max(lr, 1e-6) * 20) + 0.05 / epoch
        print(f"epoch={epoch} loss={loss:.4f}", flush=True)
    return 0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_programs")
    commands = parser.add_subparsers(dest="job", required=True)
    commands.add_parser("hello").add_argument("--name", default="world")
    train_parser = commands.add_parser("train")
    train_parser.add_argument("--lr", default="0.01")
    train_parser.add_argument("--epochs", default="3")
    train_parser.add_argument("--epoch-seconds", type=float, default=0.5)
    commands.add_parser("fail")
    commands.add_parser("sleep").add_argument("--seconds", default="600")
    args = parser.parse_args(argv)
    program = {"hello": hello, "train": train, "fail": fail, "sleep": sleep}[args.job]
    return program(args)


if __name__ == "__main__":
    sys.exit(main())
