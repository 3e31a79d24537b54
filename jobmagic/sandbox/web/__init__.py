"""The sandbox's HTTP surface on Starlette: the route table, its handlers and one middleware.

Above :mod:`~jobmagic.sandbox.service`. ``app`` (the route table), ``handlers`` (the API's
endpoints), ``admin`` (faults, stats, health, the runs page), ``runs_page`` (that page's
HTML), ``guard`` (stats, faults and auth: the one middleware), ``context`` (what the routes
share), ``query`` (reading requests), ``faults`` (fault injection and request counts),
``connections`` (live connections, to drop one). Importing this package loads no web stack:
``faults`` and ``connections`` are pure, the others import Starlette.
"""

__all__: list[str] = []
