"""What ``--wait`` of one run shows: its status line ticking in place (by display id), a
``\r`` progress line where outputs cannot change in place, and with ``--logs`` the run's new
log lines, printed from the kernel's main thread (cleaned: a job's terminal escapes reach
neither the saved notebook nor the terminal that reads a papermill log).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from jobmagic.api.logs import LogCursor
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.progress import ProgressPrinter, in_kernel
from jobmagic.errors import JobmagicError
from jobmagic.models import JobRun, LogLine
from jobmagic.models.text import view_text
from jobmagic.widgets.live import current_shell, updates_supported
from jobmagic.widgets.text_views import WaitLine

__all__ = ["LogFollower", "RunWaitProgress", "progress_printer"]


def progress_printer(*, single: bool = False) -> ProgressPrinter | None:
    """The text progress line ``--wait`` prints where views cannot change in place, or None.

    In a front end that updates outputs, a single run's wait line already ticks by display
    id; a sweep's board has no such line, and papermill's and nbclient's logs only see text,
    so sweeps print one everywhere (rewritten in place on a terminal).
    """
    shell = current_shell()
    if single and updates_supported(shell):
        return None
    return ProgressPrinter(kernel=in_kernel())


class RunWaitProgress:
    """What ``--wait`` of one run shows: its status line, moving on with the clock's every
    second (by display id; where the line cannot change in place, a ``\r`` progress line
    does), and with ``logs`` the run's new log lines, asked for every ``poll_interval``
    seconds."""

    def __init__(self, source: RunHandle, *, logs: bool = False, poll_interval: float = 2.0):
        self._line = WaitLine(source)
        self._line.show()
        self._progress = progress_printer(single=True)
        self._logs = LogFollower(source, self._progress) if logs else None
        self._poll_interval = poll_interval

    def update(self, runs: Sequence[JobRun], waited: float) -> None:
        if self._logs is not None:
            self._logs.poll(self._poll_interval)
        if self._progress is not None:
            # It writes only when the text changed and its interval passed.
            self._progress.update(self._line.text())

    def finish(self, runs: Sequence[JobRun], waited: float, *, ended: bool) -> None:
        if ended and self._logs is not None:
            self._logs.poll(0.0, force=True)  # the run's last lines, however recent the poll
        self._line.tick()
        if self._progress is not None:
            self._progress.finish(self._line.text())


#: Pages a poll reads while the run goes on, so the status line keeps ticking through a
#: flood of output; the rest follows at the next pass, and all of it once the run ended.
PAGES_PER_POLL = 8


class LogFollower:
    """Prints a run's new log lines from the main thread, each once and in order.

    It pages through the server's log API from where it stopped (``startTs`` = the last
    line's time, ``numLogsToIgnore`` = the lines of that time already printed, see
    :mod:`jobmagic.api.logs`), at most once per interval, holding one page at a time.
    """

    def __init__(self, source: RunHandle, progress: ProgressPrinter | None = None):
        self.source = source
        self.progress = progress  # its in-place line is cleared before log lines print
        #: Where the lines not printed yet start; None before the first line.
        self.cursor: LogCursor | None = None
        self.printed = 0
        self.next_poll = 0.0

    def poll(self, interval: float, *, force: bool = False) -> None:
        """Print the lines since the last poll; ``force`` reads them all, whenever asked."""
        now = time.monotonic()
        if now < self.next_poll and not force:
            return
        self.next_poll = now + interval
        pages = 0
        try:
            for page in self.source.iter_logs(self.cursor):
                self._print(page)
                self.cursor = page.next
                del page  # a page is not kept while the next one is fetched
                pages += 1
                if pages >= PAGES_PER_POLL and not force:
                    self.next_poll = now  # behind: go on at the next pass
                    break
        except JobmagicError:
            return  # the status line still moves; logs catch up from the cursor next time

    def _print(self, lines: Sequence[LogLine]) -> None:
        if self.progress is not None and lines:
            self.progress.interrupt()
        for line in lines:
            print(view_text(line.log.rstrip("\n")))
        self.printed += len(lines)
