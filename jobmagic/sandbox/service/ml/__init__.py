"""The ML-runs API: repos, runs, params, tags and metrics in the sandbox's SQLite.

``runs`` (the operations), ``search`` (the filter and order-by grammar), ``fields`` (reading
request bodies), ``shapes`` (the JSON answers), ``tokens`` (each run process's own key).
"""

__all__: list[str] = []
