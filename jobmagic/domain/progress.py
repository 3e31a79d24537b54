"""The progress line a wait writes for readers of text: a sweep's counts per state.

Plain text on stdout, no display machinery: papermill's and nbclient's logs and a terminal
read it as they read any output. In a kernel the line starts with ``\r``, which JupyterLab
and Notebook render in place.

>>> from jobmagic.models import RunStatus
>>> sweep_progress_text([RunStatus.RUNNING, RunStatus.FINISHED], 12.0)
'2 runs · 1 RUNNING · 1 FINISHED · 12.0 s'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from jobmagic.models import JobRun
from jobmagic.models.formatting import count_states, format_counts, format_duration

__all__ = ["ProgressPrinter", "SweepProgress", "in_kernel", "sweep_progress_text"]


def in_kernel(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stdout) is a Jupyter kernel's: its front end renders ``\r``."""
    stream = stream if stream is not None else sys.stdout
    return type(stream).__module__.startswith("ipykernel")


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
        self._printer: ProgressPrinter | None = ProgressPrinter(kernel=in_kernel())

    def update(self, runs: Sequence[JobRun], waited: float) -> None:
        if self._printer is not None:
            self._printer.update(self._text(runs, waited))  # it writes only now and then

    def finish(self, runs: Sequence[JobRun], waited: float, *, ended: bool) -> None:
        if self._printer is not None:
            self._printer.finish(self._text(runs, waited))

    @staticmethod
    def _text(runs: Sequence[JobRun], waited: float) -> str:
        return sweep_progress_text([run.status for run in runs], waited)


def sweep_progress_text(statuses: Sequence[Any], elapsed: float) -> str:
    """``4 runs · 1 RUNNING · 3 FINISHED · 12.0 s``: counts per status, then the time waited."""
    noun = "run" if len(statuses) == 1 else "runs"
    counts = format_counts(count_states(statuses))
    return f"{len(statuses)} {noun} · {counts} · {format_duration(elapsed)}"
