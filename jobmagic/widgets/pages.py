"""Where a paged runs board gets its rows: a page at a time, and counts for all of them.

A board shows one page (the newest 50 runs by default) and counts per status for every
row it could show. :class:`ListPages` pages a list held in memory (a sweep's handles);
:class:`LedgerPages` asks the run ledger for each page (SQL ``LIMIT``/``OFFSET``) and for
the counts (``COUNT … GROUP BY``), so a 100,000-run ledger never becomes 100,000 widgets,
handles or rows of HTML.

>>> pages = ListPages([])
>>> pages.total(), pages.status_counts([])
(0, {})
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from jobmagic.models import JobRun
from jobmagic.widgets._source import RunSource

if TYPE_CHECKING:
    from jobmagic.ledger import Ledger, LedgerEntry, LedgerQuery

__all__ = ["LedgerPages", "ListPages", "RunPages", "page_count"]

#: Rows per page unless the board is told otherwise.
PAGE_SIZE = 50


def page_count(total: int, size: int) -> int:
    """How many pages ``total`` rows fill, at least one (an empty board has a page).

    >>> page_count(0, 50), page_count(50, 50), page_count(51, 50)
    (1, 1, 2)
    """
    return max(1, -(-total // max(1, size)))


class RunPages(Protocol):
    """The rows behind a paged board."""

    def total(self) -> int:
        """How many rows there are in all pages."""
        ...

    def status_counts(self, visible: Sequence[JobRun]) -> dict[str, int]:
        """Rows per run status over every page; ``visible`` are the shown page's latest
        runs (fresher than a store the tracker has not written back to yet)."""
        ...

    def page(self, offset: int, size: int) -> list[RunSource]:
        """The rows ``offset`` to ``offset + size``, in board order."""
        ...

    def live_elsewhere(self, offset: int, size: int) -> bool:
        """Whether a row off the given page may still change (so the board is not final)."""
        ...

    #: True when the first page holds the newest rows (its buttons say Newer / Older).
    newest_first: bool


class ListPages:
    """Pages of sources held in memory, in the order given; ``add`` appends one."""

    #: A sweep's runs are shown in the order they were triggered.
    newest_first = False

    def __init__(self, sources: Sequence[RunSource] = ()) -> None:
        self._lock = threading.Lock()
        self._sources = list(sources)

    def add(self, source: RunSource) -> int:
        """Append a row; returns its position."""
        with self._lock:
            self._sources.append(source)
            return len(self._sources) - 1

    def total(self) -> int:
        with self._lock:
            return len(self._sources)

    def status_counts(self, visible: Sequence[JobRun] = ()) -> dict[str, int]:
        # The sources are current (the tracker updates them): count them all, in memory.
        with self._lock:
            sources = list(self._sources)
        return dict(Counter(str(source.run.status.value) for source in sources))

    def page(self, offset: int, size: int) -> list[RunSource]:
        with self._lock:
            return self._sources[offset : offset + size]

    def live_elsewhere(self, offset: int, size: int) -> bool:
        with self._lock:
            outside = self._sources[:offset] + self._sources[offset + size :]
        return any(not source.run.is_terminal for source in outside)


class LedgerPages:
    """Pages of the runs a ledger query matches, newest first, read when shown.

    ``to_sources`` turns a page of ledger entries into the board's rows (run handles, which
    the tracker keeps current while they are shown: ``JobSession.handles_for_entries``).
    The query
    should keep ``with_run=True``: a board shows runs, and attempts without one have no row.
    Counts come from the ledger when a page is read; between reads the shown rows' own
    changes are applied to them, so a run ending on screen moves its count at once.
    """

    newest_first = True

    def __init__(
        self,
        ledger: Ledger,
        query: LedgerQuery,
        to_sources: Callable[[Sequence[LedgerEntry]], Sequence[RunSource]],
    ) -> None:
        self.ledger = ledger
        self.query = query
        self._to_sources = to_sources
        self._lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        self._loaded: Counter[str] = Counter()  # the shown page's statuses, as stored

    def _read_counts(self) -> dict[str, int]:
        with self._lock:
            counts = self._counts
        if counts is None:
            counts = self.ledger.status_counts(self.query)
            with self._lock:
                self._counts = counts
        return counts

    def total(self) -> int:
        return sum(self._read_counts().values())

    def status_counts(self, visible: Sequence[JobRun] = ()) -> dict[str, int]:
        counts = Counter(self._read_counts())
        with self._lock:
            counts.subtract(self._loaded)
        counts.update(str(run.status.value) for run in visible)
        return {status: n for status, n in counts.items() if n > 0}

    def page(self, offset: int, size: int) -> list[RunSource]:
        entries = self.ledger.page(self.query, offset=offset, size=size)
        loaded = Counter(str(e.run.status.value) for e in entries if e.run is not None)
        # Counts read with the page, so both say the same about the rows shown.
        counts = self.ledger.status_counts(self.query)
        with self._lock:
            self._counts, self._loaded = counts, loaded
        return list(self._to_sources(entries))

    def live_elsewhere(self, offset: int, size: int) -> bool:
        # Rows off the page are not followed (that is the point): what the ledger says of
        # them is only re-read when their page is shown.
        return False
