"""The run card's widgets and their layout, apart from what the card does with them.

:class:`CardWidgets` makes every widget of a card (each with the CSS class the
stylesheet and the browser tests know it by) and lays them out; :class:`RunCard`
(:mod:`jobmagic.widgets.card`) fills them from its source and wires their buttons.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from jobmagic.widgets.static import style_block

__all__ = ["CardWidgets", "show"]


def show(widget: widgets.Widget, visible: bool) -> None:
    """Show or hide ``widget``, keeping its own display when shown."""
    # None restores the widget's own display (flex for boxes, block for HTML).
    widget.layout.display = None if visible else "none"


def _html(css_class: str, value: str = "") -> widgets.HTML:
    widget = widgets.HTML(value=value)
    widget.add_class(css_class)
    return widget


def _button(description: str, css_class: str, **kwargs: Any) -> widgets.Button:
    widget = widgets.Button(description=description, **kwargs)
    widget.add_class(css_class)
    return widget


class CardWidgets:
    """A card's widgets: the head, facts, params, metrics, actions, confirmation, logs."""

    widget: widgets.VBox

    def _build_widgets(self) -> None:
        """Make every widget, then lay them out in :attr:`widget`."""
        self._make_facts()
        self._make_actions()
        self._lay_out()

    def _make_facts(self) -> None:
        self.style = _html("jobmagic-style", style_block())
        self.name_label = _html("jobmagic-name")
        self.status_badge = _html("jobmagic-status")
        self.stale_note = _html("jobmagic-stale")
        self.link = _html("jobmagic-link")
        self.meta = _html("jobmagic-meta")
        self.error_box = _html("jobmagic-error")
        self.events_box = _html("jobmagic-events")
        self.params_table = _html("jobmagic-params")
        self.metrics_box = _html("jobmagic-metrics")
        self.message = _html("jobmagic-message")
        self.rerun_of_label = _html("jobmagic-rerun-of")
        self.logs = _html("jobmagic-logs")

    def _make_actions(self) -> None:
        self.refresh_button = _button(
            "Refresh", "jobmagic-refresh", icon="refresh", tooltip="Fetch the run's state now"
        )
        self.terminate_button = _button(
            "Terminate", "jobmagic-terminate", icon="stop", tooltip="Stop this run"
        )
        self.logs_toggle = widgets.ToggleButton(
            value=False, description="Logs", icon="list", tooltip="Show the run's latest logs"
        )
        self.logs_toggle.add_class("jobmagic-logs-toggle")
        self.rerun_button = _button(
            "Run again",
            "jobmagic-rerun",
            icon="repeat",
            tooltip="Open this run's params in a form that triggers it again",
        )
        # The "Run again" form opens here, under the card's actions.
        self.rerun_box = widgets.VBox([])
        self.rerun_box.add_class("jobmagic-rerun-box")
        self.confirm_text = _html("jobmagic-confirm-text")
        self.confirm_button = _button("Yes, terminate", "jobmagic-confirm", button_style="danger")
        self.cancel_button = _button("Cancel", "jobmagic-cancel")
        self.confirm_box = widgets.HBox(
            [self.confirm_text, self.confirm_button, self.cancel_button]
        )
        self.confirm_box.add_class("jobmagic-confirm-box")

    def _lay_out(self) -> None:
        head = widgets.HBox(
            [self.name_label, self.status_badge, self.stale_note, self.rerun_of_label, self.link]
        )
        head.add_class("jobmagic-head")
        head.layout.align_items = "center"
        params_label = _html("jobmagic-section", "Params")
        actions = widgets.HBox(
            [self.refresh_button, self.terminate_button, self.logs_toggle, self.rerun_button]
        )
        actions.add_class("jobmagic-actions")
        self.widget = widgets.VBox(
            [
                self.style,
                head,
                self.meta,
                self.error_box,
                self.events_box,
                params_label,
                self.params_table,
                self.metrics_box,
                actions,
                self.confirm_box,
                self.message,
                self.rerun_box,
                self.logs,
            ]
        )
        self.widget.add_class("jobmagic-card")
        # Every widget, closed with the card.
        self._widgets: list[widgets.Widget] = [
            self.widget,
            head,
            actions,
            params_label,
            self.style,
            self.name_label,
            self.status_badge,
            self.stale_note,
            self.link,
            self.meta,
            self.error_box,
            self.events_box,
            self.params_table,
            self.metrics_box,
            self.message,
            self.refresh_button,
            self.terminate_button,
            self.logs_toggle,
            self.confirm_box,
            self.confirm_text,
            self.confirm_button,
            self.cancel_button,
            self.logs,
            self.rerun_button,
            self.rerun_of_label,
            self.rerun_box,
        ]
