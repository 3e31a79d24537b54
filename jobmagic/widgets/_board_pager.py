"""A runs board's pager: which page is shown, and the buttons and label that move it.

Only shown once there is a second page. The board reads the rows of the page this says;
the pager knows page numbers, not runs.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from jobmagic.models.text import view_html
from jobmagic.widgets._board_text import page_text
from jobmagic.widgets.pages import page_count

__all__ = ["BoardPager"]


class BoardPager:
    """The shown page (from 0) of ``page_size`` rows, and its "Newer"/"Older" buttons
    ("Previous"/"Next" when the first page is not the newest); ``go(index)`` is called
    when one is clicked.

    >>> pager = BoardPager(50, newest_first=True, go=print)
    >>> pager.page, pager.first, pager.clamp(7, total=120)
    (0, 0, 2)
    >>> pager.newer_button.description
    'Newer'
    """

    def __init__(self, page_size: int, *, newest_first: bool, go: Callable[[int], None]) -> None:
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.newer_button = widgets.Button(
            description="Newer" if newest_first else "Previous",
            icon="chevron-left",
            tooltip="The page before this one",
        )
        self.newer_button.add_class("jobmagic-board-newer")
        self.older_button = widgets.Button(
            description="Older" if newest_first else "Next",
            icon="chevron-right",
            tooltip="The page after this one",
        )
        self.older_button.add_class("jobmagic-board-older")
        self.page_label = widgets.HTML()
        self.page_label.add_class("jobmagic-board-page")
        self.box = widgets.HBox([self.newer_button, self.page_label, self.older_button])
        self.box.add_class("jobmagic-board-pager")
        self.box.layout.display = "none"  # shown once there is a second page
        self.newer_button.on_click(lambda _b: go(self.page - 1))
        self.older_button.on_click(lambda _b: go(self.page + 1))
        self.widgets: list[widgets.Widget] = [
            self.box,
            self.newer_button,
            self.older_button,
            self.page_label,
        ]

    @property
    def first(self) -> int:
        """The position of the shown page's first row among all rows."""
        return self.page * self.page_size

    def holds(self, position: int) -> bool:
        """Whether the row at ``position`` falls on the shown page."""
        return self.first <= position < self.first + self.page_size

    def page_count(self, total: int) -> int:
        return page_count(total, self.page_size)

    def clamp(self, index: int, *, total: int) -> int:
        """``index`` as a page there is."""
        return max(0, min(int(index), self.page_count(total) - 1))

    def text(self, *, shown: int, total: int) -> str:
        """``page 2 of 40 · runs 51–100 of 2,000``."""
        return page_text(self.page, self.page_size, shown, total)

    def sync(self, *, shown: int, total: int) -> None:
        """Label the shown page; enable the buttons that lead to a page; show the pager
        only when there is more than one."""
        pages = self.page_count(total)
        self.newer_button.disabled = self.page == 0
        self.older_button.disabled = self.page >= pages - 1
        text = self.text(shown=shown, total=total)
        value = f'<span class="jobmagic-board-page-text">{view_html(text)}</span>'
        if self.page_label.value != value:
            self.page_label.value = value
        self.box.layout.display = None if pages > 1 else "none"
