"""Small text views the magics display: the --wait status line and progress, a dry run,
``%jobmagic``, and the lines ``%job_runs`` prints about attempts without a run.

Each has a ``text/plain`` and an escaped ``text/html`` form and no widgets, so they stay
cheap to import (``%load_ext`` imports no ipywidgets) and read the same in any notebook
viewer.
"""

from __future__ import annotations

import html
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from jobmagic._version import __version__
from jobmagic.config import mask_token
from jobmagic.errors import JobmagicError
from jobmagic.models import JobRun
from jobmagic.widgets._format import count_states, format_counts, format_duration, run_state_key
from jobmagic.widgets._live import LiveOutput, _shell, _updates_supported

if TYPE_CHECKING:
    from jobmagic.ledger import LedgerEntry
    from jobmagic.runs.engine import TriggerPlan
    from jobmagic.runs.reconcile import Verdict
    from jobmagic.runs.session import JobSession
    from jobmagic.sandbox.process import SandboxProcess
    from jobmagic.widgets._source import RunSource

__all__ = [
    "DryRunView",
    "InfoView",
    "LogFollower",
    "ProgressPrinter",
    "RunWaitProgress",
    "StatusLine",
    "SweepProgress",
    "WaitLine",
    "attempts_without_runs",
    "reconcile_summary",
]

#: How often the --wait line's duration moves on.
TICK_SECONDS = 1.0

_BOX = (
    "font-family: var(--jp-code-font-family, monospace); font-size: 12px; "
    "padding: 6px 8px; border-left: 3px solid var(--jp-brand-color1, #1976d2); "
    "background: var(--jp-layout-color2, #f5f5f5); color: var(--jp-ui-font-color1, #222);"
)


@dataclass(frozen=True)
class StatusLine:
    """``train-k3x9q · RUNNING · 12 s``: what ``--wait`` shows, updated in place."""

    run: JobRun

    def text(self) -> str:
        parts = [self.run.name, str(self.run.status), format_duration(self.run.elapsed())]
        if self.run.exit_code is not None:
            parts.append(f"exit {self.run.exit_code}")
        return " · ".join(parts)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<div class='jobmagic-status-line' style='{_BOX}'>{html.escape(self.text())}</div>"


class WaitLine:
    """The ``--wait`` status line, displayed with a display id: it ticks while the cell
    waits (:meth:`tick`), and after that still follows the run to its end, so a wait that
    timed out or was interrupted does not leave a frozen line in the saved notebook."""

    def __init__(self, source: RunSource) -> None:
        self._source = source
        self._ticks = 0
        self._live = LiveOutput(self.bundle, self._state, lambda: source.run.is_terminal)
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def display_id(self) -> str:
        return self._live.display_id

    def _state(self) -> tuple[object, ...]:
        # The tick count is part of the state: each tick re-sends the moved-on duration.
        return (run_state_key(self._source.run), self._ticks)

    def text(self) -> str:
        return StatusLine(self._source.run).text()

    def bundle(self) -> dict[str, Any]:
        line = StatusLine(self._source.run)
        return {"text/plain": line.text(), "text/html": line._repr_html_()}

    def show(self) -> None:
        """Display the line and follow the run (its status changes) until it ends."""
        self._live.show()
        if not self._source.run.is_terminal and self._live.following:
            self._unsubscribe = self._source.subscribe(self._on_update)

    def tick(self) -> None:
        """Re-send the line now: its duration moved on (called about once a second)."""
        self._ticks += 1
        self._live.push()

    def _on_update(self, run: JobRun, _stale: Any) -> None:
        self._live.push()
        if run.is_terminal and self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            unsubscribe()


class ProgressPrinter:
    """A compact progress line on stdout, for readers of text rather than widgets.

    On a terminal it is rewritten in place (``\r``) at most every ``tty_interval`` seconds.
    Elsewhere (papermill and nbclient logs, a pipe) a line is written at most every
    ``interval`` seconds, and only when it changed: never one line per poll. In a kernel the
    line starts with ``\r``, which JupyterLab and Notebook render in place as well.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        kernel: bool = False,
        interval: float = 5.0,
        tty_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None else sys.stdout
        isatty = getattr(self._stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) and not kernel else False
        self.kernel = kernel
        self._interval = tty_interval if self.tty else interval
        self._clock = clock
        self._last_at = float("-inf")
        self._last_text = ""
        self._width = 0
        self.lines = 0

    def update(self, text: str) -> bool:
        """Show ``text`` if the interval has passed and it changed; True if written."""
        now = self._clock()
        if text == self._last_text or now - self._last_at < self._interval:
            return False
        self._write(text, end="")
        self._last_at = now
        return True

    def interrupt(self) -> None:
        """Clear an in-place line before other output (log lines) is printed under it."""
        if self.tty and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
            self._last_text = ""  # the next update writes the line again, at once
            self._last_at = float("-inf")

    def finish(self, text: str) -> None:
        """The last line: always written, and ended with a newline."""
        if self.tty or self.kernel or text != self._last_text:
            self._write(text, end="\n")
        self._last_text = ""

    def _write(self, text: str, *, end: str) -> None:
        if self.tty:
            pad = " " * max(0, self._width - len(text))
            self._stream.write(f"\r{text}{pad}{end}")
        elif self.kernel:
            self._stream.write(f"\r{text}{end}")
        else:
            self._stream.write(f"{text}\n")
        self._stream.flush()
        self._width = len(text)
        self._last_text = text
        self.lines += 1


class SweepProgress:
    """What a sweep's wait shows: the progress line counting its runs per state (a board
    cannot tick in place, and papermill's and nbclient's logs only see text)."""

    def __init__(self) -> None:
        self._printer = progress_printer()

    def update(self, runs: Sequence[JobRun], waited: float) -> None:
        if self._printer is not None:
            self._printer.update(self._text(runs, waited))  # it writes only now and then

    def finish(self, runs: Sequence[JobRun], waited: float, *, ended: bool) -> None:
        if self._printer is not None:
            self._printer.finish(self._text(runs, waited))

    @staticmethod
    def _text(runs: Sequence[JobRun], waited: float) -> str:
        return sweep_progress_text([run.status for run in runs], waited)


class RunWaitProgress:
    """What ``--wait`` of one run shows: its status line, ticking about once a second (by
    display id; where the line cannot change in place, a ``\r`` progress line does), and
    with ``logs`` the run's new log lines, asked for every ``poll_interval`` seconds."""

    def __init__(self, source: RunSource, *, logs: bool = False, poll_interval: float = 2.0):
        self._line = WaitLine(source)
        self._line.show()
        self._progress = progress_printer(single=True)
        self._logs = LogFollower(source, self._progress) if logs else None
        self._poll_interval = poll_interval
        self._next_tick = time.monotonic() + TICK_SECONDS

    def update(self, runs: Sequence[JobRun], waited: float) -> None:
        if self._logs is not None:
            self._logs.poll(self._poll_interval)
        if time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + TICK_SECONDS
            self._line.tick()
            if self._progress is not None:
                self._progress.update(self._line.text())

    def finish(self, runs: Sequence[JobRun], waited: float, *, ended: bool) -> None:
        if ended and self._logs is not None:
            self._logs.poll(0.0, force=True)  # the run's last lines, however recent the poll
        self._line.tick()
        if self._progress is not None:
            self._progress.finish(self._line.text())


class LogFollower:
    """Prints new log lines of a run from the main thread, at most once per interval."""

    def __init__(self, source: RunSource, progress: ProgressPrinter | None = None):
        self.source = source
        self.progress = progress  # its in-place line is cleared before log lines print
        self.seen_ns = 0
        self.next_poll = 0.0

    def poll(self, interval: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if now < self.next_poll and not force:
            return
        self.next_poll = now + interval
        try:
            lines = self.source.logs()
        except JobmagicError:
            return  # the status line still moves; logs catch up next time
        for line in lines:
            if line.time_ns is not None and line.time_ns <= self.seen_ns:
                continue
            if self.progress is not None:
                self.progress.interrupt()
            print(line.log.rstrip("\n"))
            if line.time_ns is not None:
                self.seen_ns = line.time_ns


def sweep_progress_text(statuses: Sequence[Any], elapsed: float) -> str:
    """``4 runs · 1 running · 3 finished · 12.0 s``: counts per status, then the time waited."""
    noun = "run" if len(statuses) == 1 else "runs"
    counts = format_counts(count_states(statuses))
    return f"{len(statuses)} {noun} · {counts} · {format_duration(elapsed)}"


@dataclass(frozen=True)
class DryRunView:
    """The exact request(s) a trigger would send, token masked; nothing was sent."""

    method: str
    url: str
    headers: Mapping[str, str]
    bodies: Sequence[Mapping[str, Any]]

    @classmethod
    def build(cls, host: str, token: str, triggers: TriggerPlan) -> DryRunView:
        """The engine's planned requests (built and checked by the one request builder),
        as they would be sent to ``host``, the token masked."""
        from jobmagic.models import API_PREFIX

        requests = triggers.requests
        path = requests[0].url_path if requests else API_PREFIX + "/jobs/trigger"
        return cls(
            method=requests[0].method if requests else "POST",
            url=host.rstrip("/") + path,
            headers={
                "Authorization": f"Bearer {mask_token(token)}",
                "Content-Type": "application/json",
            },
            bodies=[request.json for request in requests],
        )

    def text(self) -> str:
        head = [f"{self.method} {self.url}"] + [f"{k}: {v}" for k, v in self.headers.items()]
        shown = self.bodies[:20]
        lines = [f"Dry run: {len(self.bodies)} request(s) would be sent; nothing was sent.", ""]
        for body in shown:
            lines += [*head, "", json.dumps(body, indent=2), ""]
        if len(self.bodies) > len(shown):
            lines.append(f"… and {len(self.bodies) - len(shown)} more like these.")
        return "\n".join(lines).rstrip()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<pre class='jobmagic-dry-run' style='{_BOX}'>{html.escape(self.text())}</pre>"


@dataclass(frozen=True)
class InfoView:
    """``%jobmagic``: where jobmagic points and where the token came from — never the token."""

    rows: Sequence[tuple[str, str]]
    headline: str = "jobmagic"

    @classmethod
    def build(
        cls,
        session: JobSession,
        sandbox: SandboxProcess | None,
        *,
        headline: str = "jobmagic",
    ) -> InfoView:
        rows: list[tuple[str, str]] = [("version", __version__)]
        try:
            credentials = session.credentials()
        except JobmagicError as exc:
            rows += [("host", "not configured"), ("problem", str(exc))]
        else:
            rows += [
                ("host", credentials.host),
                ("host from", credentials.host_source),
                ("token", mask_token(credentials.token)),
                ("token from", credentials.token_source),
            ]
        settings = session.settings
        from jobmagic.ledger import default_ledger_path

        ledger = settings.ledger_path or str(default_ledger_path())
        rows += [
            ("ledger", ledger),
            ("poll interval", f"{settings.poll_interval:g} s"),
            ("runs this session", str(_distinct_runs(session))),
        ]
        if sandbox is not None:
            rows += [("sandbox", f"{sandbox.host} (pid {sandbox.pid})")]
        return cls(rows=rows, headline=headline)

    def text(self) -> str:
        width = max(len(k) for k, _ in self.rows)
        return "\n".join([self.headline] + [f"  {k.ljust(width)}  {v}" for k, v in self.rows])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.rows
        )
        return (
            f"<div class='jobmagic-info' style='{_BOX}'><b>{html.escape(self.headline)}</b>"
            f"<table>{cells}</table></div>"
        )


def _distinct_runs(session: JobSession) -> int:
    """Runs, not views: a run shown in a card and two boards is one run."""
    return len({(h.application_id, h.name) for h in session.handles})


def progress_printer(*, single: bool = False) -> ProgressPrinter | None:
    """The text progress line ``--wait`` prints where views cannot change in place, or None.

    In a front end that updates outputs, a single run's wait line already ticks by display
    id; a sweep's board has no such line, and papermill's and nbclient's logs only see text,
    so sweeps print one everywhere (rewritten in place on a terminal).
    """
    shell = _shell()
    if single and _updates_supported(shell):
        return None
    return ProgressPrinter(kernel=shell is not None and getattr(shell, "kernel", None) is not None)


_ATTEMPT_NOTES = {
    "pending": "pending (sent, never answered: --reconcile looks for its run)",
    "unknown": "with an unknown outcome (--reconcile looks for its run)",
    "ambiguous": "ambiguous (several runs match: {candidates})",
    "not-created": "not created (no run was made: safe to trigger again)",
    "rejected": "rejected by the server",
}


def attempts_without_runs(entries: Sequence[LedgerEntry]) -> str:
    """One line about the listed attempts that have no run, by state."""
    groups: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.run is None:
            groups.setdefault(entry.state.value, []).append(entry)
    parts = []
    for state, text in _ATTEMPT_NOTES.items():
        found = groups.get(state, [])
        if found:
            candidates = ", ".join(sorted({c for e in found for c in e.candidates})[:6])
            parts.append(f"{len(found)} {text.format(candidates=candidates)}")
    if not parts:
        return ""
    return "Attempts without a run (see --table): " + "; ".join(parts) + "."


def reconcile_summary(verdicts: Sequence[Verdict]) -> str:
    """What ``%job_runs --reconcile`` found: counts per verdict, and each one's candidates."""
    if not verdicts:
        return "Reconciled: no attempt had an unknown outcome."
    counts: dict[str, int] = {}
    for verdict in verdicts:
        state = verdict.state.value if verdict.decided else "still unknown"
        counts[state] = counts.get(state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    lines = [f"Reconciled {len(verdicts)} attempt(s) against the server: {parts}."]
    lines += [
        f"  attempt {v.attempt_id}: {', '.join(v.candidates)}" for v in verdicts if v.candidates
    ]
    return "\n".join(lines)
