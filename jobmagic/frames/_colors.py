"""The status colours, shared by the styled table and the timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


__all__ = ["OTHER_COLOR", "STATUS_COLORS"]


# --- colours ------------------------------------------------------------------------

# Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
STATUS_COLORS: dict[str, str] = {
    "CREATED": "#56B4E9",  # sky blue: queued
    "SCHEDULED": "#56B4E9",
    "RUNNING": "#0072B2",  # blue
    "FINISHED": "#009E73",  # bluish green
    "FAILED": "#D55E00",  # vermillion
    "TERMINATION_REQUESTED": "#E69F00",  # orange: on its way out
    "TERMINATING": "#E69F00",
    "TERMINATED": "#999999",  # grey
    "UNKNOWN": "#CC79A7",  # reddish purple
}
OTHER_COLOR = "#CC79A7"  # statuses this version does not know look like UNKNOWN
