"""The Jupyter Server extension: REST handlers under ``{base_url}jobmagic/`` for front ends
that live outside a notebook's cells (the JupyterLab Runs panel builds on it).

It sits at the IPython layer's level and imports ``jupyter_server`` only when Jupyter loads
it: ``import jobmagic`` and ``%load_ext jobmagic`` never do. Enable it with::

    jupyter server --ServerApp.jpserver_extensions='{"jobmagic.serverext": True}'

What it serves so far: ``GET {base_url}jobmagic/version`` (Jupyter Server's authentication
applies: no token, no answer) — ``{"version": "…", "ledger": "<path>"}``.

>>> [point["module"] for point in _jupyter_server_extension_points()]
['jobmagic.serverext']
"""

from __future__ import annotations

from typing import Any

__all__: list[str] = []


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """What Jupyter Server asks a package for: where its extension is."""
    return [{"module": "jobmagic.serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by Jupyter Server as it starts: add jobmagic's handlers to its web app."""
    # Deferred: jupyter_server is imported only by a server that loads this extension.
    from jobmagic.serverext.handlers import route_table

    web_app = serverapp.web_app
    web_app.add_handlers(".*$", route_table(web_app.settings["base_url"]))
    serverapp.log.info("jobmagic server extension loaded")
