"""The domain: which job (``session.Target``), the session a kernel or script shares, the one
trigger engine, run handles and the tracker that keeps them current, waiting, sweeps,
reconciling unknown outcomes, a job's history on the server, and run metrics.

No IPython and no widgets here: the IPython layer registers how handles and sweeps display.
"""

__all__: list[str] = []
