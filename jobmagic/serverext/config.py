"""The extension's settings, as Jupyter takes them (traitlets: command line, config files).

>>> JobmagicServer().refresh_interval
2.0
"""

from __future__ import annotations

from traitlets import Float, Unicode
from traitlets.config import Configurable

__all__ = ["JobmagicServer"]


class JobmagicServer(Configurable):
    """``--JobmagicServer.refresh_interval=2`` and the like, or ``c.JobmagicServer.…``."""

    refresh_interval = Float(
        2.0, min=0.05, help="Seconds between the refresher's ticks (one list call per job)."
    ).tag(config=True)
    panel_linger = Float(
        30.0,
        min=0.0,
        help="Seconds the refresher keeps ticking after a panel's last request.",
    ).tag(config=True)
    ledger_path = Unicode(
        "", help="The run ledger to read (default: jobmagic's, <JOBMAGIC_HOME>/ledger.sqlite3)."
    ).tag(config=True)
