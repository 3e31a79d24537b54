"""The Jupyter Server extension: REST handlers under ``{base_url}jobmagic/`` for front ends
that live outside a notebook's cells (the JupyterLab Runs panel builds on it).

It sits at the IPython layer's level and imports ``jupyter_server`` only when Jupyter loads
it: ``import jobmagic`` and ``%load_ext jobmagic`` never do. Enable it with::

    jupyter server --ServerApp.jpserver_extensions='{"jobmagic.serverext": True}'

Endpoints (all behind Jupyter Server's authentication; POSTs need its XSRF token too):
``GET jobmagic/version``, ``GET jobmagic/status``, ``GET jobmagic/runs?limit=&offset=
&status=&sweep=&q=``, ``GET jobmagic/runs/ID``, ``GET jobmagic/runs/ID/logs?tail=N``,
``POST jobmagic/runs/ID/terminate``, ``POST jobmagic/runs/ID/rerun``. Settings (traitlets,
``--JobmagicServer.refresh_interval=2``): ``refresh_interval`` (seconds between refresh
ticks), ``panel_linger`` (how long after a panel's last request the refresher keeps
ticking), ``ledger_path`` (default: jobmagic's own).

>>> [point["module"] for point in _jupyter_server_extension_points()]
['jobmagic.serverext']
"""

from __future__ import annotations

import atexit
from typing import Any

from jobmagic.serverext.config import JobmagicServer

__all__: list[str] = []

#: Where the server keeps its one RunsService (web_app.settings).
SETTINGS_KEY = "jobmagic_runs_service"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """What Jupyter Server asks a package for: where its extension is."""
    return [{"module": "jobmagic.serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by Jupyter Server as it starts: add jobmagic's handlers to its web app, with
    the server's one :class:`~jobmagic.serverext.service.RunsService` (and refresher)."""
    # Deferred: jupyter_server is imported only by a server that loads this extension.
    from jobmagic.serverext.handlers import route_table
    from jobmagic.serverext.service import RunsService

    config = JobmagicServer(parent=serverapp)
    service = RunsService(
        root_dir=str(serverapp.root_dir),
        ledger_path=config.ledger_path or None,
        interval=config.refresh_interval,
        linger=config.panel_linger,
    )
    # A module-style extension hears nothing when the server stops: at exit, the refresher
    # is stopped and the ledger's pending writes are written.
    atexit.register(service.close)
    web_app = serverapp.web_app
    web_app.settings[SETTINGS_KEY] = service
    web_app.add_handlers(".*$", route_table(web_app.settings["base_url"], service))
    serverapp.log.info("jobmagic server extension loaded (ledger %s)", service.ledger_path)
