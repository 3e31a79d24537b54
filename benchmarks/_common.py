"""What every benchmark shares: the result row, medians of interleaved trials, the machine,
and a sandbox (in its own process) with a real IPython shell on it.

A benchmark module exposes ``run(quick: bool) -> list[Row]`` and ``main()``;
``benchmarks/run_all.py`` calls each ``run`` and prints one table.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from jobmagic.models import API_PREFIX

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from jobmagic.sandbox import SandboxProcess

#: The API's prefix, as the raw-httpx baselines address it (one copy: the models').
API = API_PREFIX


class _RowFields(TypedDict):
    what: str
    #: jobmagic's figure and the baseline's, measured in the same run, in ``unit``
    #: (seconds unless the row says otherwise).
    jobmagic_s: float
    baseline_s: float
    #: ``jobmagic_s / baseline_s``.
    ratio: float
    #: What "met" means, e.g. ``"≤ 1.2x"``, ``"≤ +20 ms"``, ``"≤ 50 ms"``, ``"≤ 100 MB"``.
    target: str


class Row(_RowFields, total=False):
    """One line of the benchmark table."""

    #: ``"s"`` (the default), ``"MB"``, ``"calls"``…: what the two figures count.
    unit: str
    #: Set by the benchmark when ``target`` is not one :func:`target_met` can read.
    met: bool | None
    note: str
    #: Set by the aggregator when the benchmark module failed.
    error: str


def make_row(
    what: str, jobmagic: float, baseline: float, target: str, *, unit: str = "s", note: str = ""
) -> Row:
    """A row with its ratio; a zero baseline gives an infinite ratio rather than an error."""
    row = Row(
        what=what,
        jobmagic_s=jobmagic,
        baseline_s=baseline,
        ratio=jobmagic / baseline if baseline else float("inf"),
        target=target,
    )
    if unit != "s":
        row["unit"] = unit
    if note:
        row["note"] = note
    return row


def failed_row(what: str, error: str) -> Row:
    """The row standing for a benchmark that could not run, so the table still shows it."""
    nan = float("nan")
    return Row(
        what=what, jobmagic_s=nan, baseline_s=nan, ratio=nan, target="", met=False, error=error
    )


_FIGURES = ("jobmagic_s", "baseline_s", "ratio")


def row_problems(row: Any) -> list[str]:
    """What makes ``row`` not a well-formed :class:`Row` (empty when it is one)."""
    if not isinstance(row, dict):
        return [f"a row is a dict, not {type(row).__name__}"]
    problems = [f"{key} is missing" for key in ("what", *_FIGURES, "target") if key not in row]
    if problems:
        return problems
    if "error" in row:
        return []
    if not isinstance(row["what"], str) or not row["what"]:
        problems.append("what must be a non-empty string")
    if not isinstance(row["target"], str):
        problems.append("target must be a string")
    for key in _FIGURES:
        value = row[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            problems.append(f"{key} must be a positive number, not {value!r}")
    if not problems:
        expected = row["jobmagic_s"] / row["baseline_s"]
        if not math.isclose(row["ratio"], expected, rel_tol=1e-9):
            problems.append(f"ratio {row['ratio']} is not jobmagic_s / baseline_s")
    return problems


# -- targets ------------------------------------------------------------------------------

_TARGET = re.compile(r"^\s*(≤|<=|≥|>=)\s*(\+)?\s*([0-9.,]+)\s*(x|ms|s|/s|[a-z]+)?\s*$", re.I)
_SCALE = {"ms": 1e-3}


def target_met(row: Row) -> bool | None:
    """Whether ``row`` meets its target; ``None`` when the target is not one this reads.

    ``≤ 1.2x`` bounds the ratio, ``≤ +20 ms`` what jobmagic adds to the baseline, and a bare
    figure (``≤ 50 ms``, ``≤ 100 MB``, ``≥ 600 /s``, ``≤ 2 calls``) jobmagic's own figure in
    the row's unit (``ms`` and ``s`` convert to seconds; other units are taken as written).
    """
    if "met" in row:
        return row["met"]
    match = _TARGET.match(row.get("target", ""))
    if match is None:
        return None
    op, added, number, unit = match.groups()
    bound = float(number.replace(",", ""))
    unit = (unit or "").lower()
    if unit == "x":
        value = row["ratio"]
    else:
        bound *= _SCALE.get(unit, 1.0)
        value = row["jobmagic_s"] - row["baseline_s"] if added else row["jobmagic_s"]
    if math.isnan(value):  # the figure is missing
        return False
    return value <= bound if op in ("≤", "<=") else value >= bound


# -- timing -------------------------------------------------------------------------------


def stopwatch(work: Callable[[], object]) -> Callable[[], float]:
    """``work`` as a callable answering how many seconds it took."""

    def timed() -> float:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started

    return timed


def interleaved(
    variants: Mapping[str, Callable[[], float]], trials: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Each variant's seconds over ``trials`` rounds, one call of each per round.

    The order rotates every round, so no variant always runs first (cold caches) or last
    (a warmer machine, a fuller sandbox). ``warmup`` rounds run first and are dropped.
    """
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(warmup + trials):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = variants[name]()
            if index >= warmup:
                times[name].append(seconds)
    return times


def median(values: list[float]) -> float:
    """The median (the figure every benchmark reports: one slow trial does not move it)."""
    return statistics.median(values)


# -- the machine --------------------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, RAM, Python, OS, date (UTC)."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cores": os.cpu_count(),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "ram_gb": round(int(mem_kb.split()[0]) / 1024**2, 1) if mem_kb else None,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # Other work on the machine moves the figures; the 15-minute average covers a run.
        "load_avg_15min": round(os.getloadavg()[2], 2) if hasattr(os, "getloadavg") else None,
    }


def describe_machine(info: Mapping[str, Any]) -> str:
    """One line for the table's head: :func:`machine`'s answer."""
    text = (
        f"{info['cores']} cores ({info['cpu']}), {info['ram_gb']} GB RAM, "
        f"Python {info['python']}, {info['os']}, {info['date']}"
    )
    load = info.get("load_avg_15min")
    return text if load is None else f"{text}, load average {load} over the last 15 min"


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MB."""
    value = _proc_field("/proc/self/status", field)
    if value is None:
        raise RuntimeError(f"/proc/self/status has no {field} (memory figures need Linux)")
    return int(value.split()[0]) / 1024


def reset_peak_rss() -> None:
    """Start ``VmHWM`` again from the current RSS (Linux ≥ 4.0), so a peak is this phase's."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


# -- a sandbox and a shell on it ----------------------------------------------------------


def noop_jobs(workspace: str) -> str:
    """A jobs file for the sandbox: ``bench:<workspace>:noop`` runs ``true`` with one param."""
    return f"""
cluster: bench
workspace: {workspace}
jobs:
  - name: noop
    command: "true --x={{{{xi}}}}"
    params:
      - name: xi
        default: "0"
"""


@contextmanager
def sandbox_process(workspace: str) -> Iterator[tuple[SandboxProcess, Path]]:
    """The sandbox in its own process, as ``jobmagic sandbox`` runs it (in this process it
    would share the GIL with the client being measured), serving :func:`noop_jobs`; with a
    temporary folder for anything else the benchmark keeps."""
    from jobmagic.sandbox import start_sandbox_process

    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(noop_jobs(workspace))
        with start_sandbox_process(Path(tmp) / "sandbox", jobs_file=jobs) as sandbox:
            yield sandbox, Path(tmp)


@contextmanager
def jobmagic_shell(sandbox: SandboxProcess, ledger: Path) -> Iterator[InteractiveShell]:
    """A real InteractiveShell with ``%load_ext jobmagic`` pointed at ``sandbox``; no cards.

    ``jobmagic.trigger`` and ``jobmagic.sweep`` called while it is open use its session.
    """
    from IPython.core.interactiveshell import InteractiveShell

    saved = {name: os.environ.get(name) for name in ("TFY_HOST", "TFY_API_KEY")}
    os.environ["TFY_HOST"], os.environ["TFY_API_KEY"] = sandbox.host, sandbox.token
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "jobmagic")
        shell.run_line_magic("config", f"JobMagic.ledger_path = {str(ledger)!r}")
        shell.run_line_magic("config", "JobMagic.show_cards = False")
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "jobmagic")
        InteractiveShell.clear_instance()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def format_figure(value: float, unit: str = "s") -> str:
    """``0.0031`` → ``3.1 ms``, ``12.5`` → ``12.50 s``; other units as they are
    (``45.25`` → ``45.2 MB``, ``1.0`` → ``1 calls``)."""
    if math.isnan(value):
        return "—"
    if unit != "s":
        whole = value == int(value) or value >= 1000
        return f"{value:,.0f} {unit}" if whole else f"{value:,.1f} {unit}"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width table: what | jobmagic | baseline | ratio | target | met?"""
    head = ("what", "jobmagic", "baseline", "ratio", "target", "met?")
    lines = [head]
    for row in rows:
        unit = row.get("unit", "s")
        met = target_met(row)
        ratio = row["ratio"]
        lines.append(
            (
                row["what"],
                format_figure(row["jobmagic_s"], unit),
                format_figure(row["baseline_s"], unit),
                "—" if math.isnan(ratio) else f"{ratio:.2f}x",
                row["target"] or "—",
                "FAILED" if "error" in row else {True: "yes", False: "NO", None: "—"}[met],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    rule = "-+-".join("-" * width for width in widths)
    text = [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    notes = [f"* {row['what']}: {row['note']}" for row in rows if row.get("note")]
    notes += [f"* {row['what']}: FAILED, {row['error']}" for row in rows if row.get("error")]
    return "\n".join([text[0], rule, *text[1:], *([""] if notes else []), *notes])


def print_rows(rows: list[Row]) -> None:
    """What a benchmark's ``main()`` prints: its rows as the aggregator's table."""
    print(format_table(rows))
    sys.stdout.flush()
