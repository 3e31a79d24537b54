"""The API's operations, without HTTP: validate, act on the store and runner, answer JSON.

Above :mod:`~jobmagic.sandbox.processes` and :mod:`~jobmagic.sandbox.storage`, below the web
layer. ``catalog`` (the declared jobs), ``operations`` (the Jobs API's operations),
``trigger_input`` (a trigger's body, read), ``render`` (the Jobs API's JSON shapes), and
``ml`` (the ML-runs API).
"""

__all__: list[str] = []
