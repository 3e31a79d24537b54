"""The sandbox's state on disk: records, the SQLite store, its log writer, private files.

The bottom layer (above :mod:`jobmagic.sandbox.errors` only): it knows nothing of processes,
HTTP or the API's JSON. ``records`` (what is stored), ``store`` (SQLite), ``writer`` (the one
thread that stores log lines and run ends, in order), ``private`` (0600 files, 0700 folders).
"""

__all__: list[str] = []
