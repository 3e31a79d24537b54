"""Runs as real child processes: start, watch, signal and reap them; record their pod events.

Above :mod:`~jobmagic.sandbox.storage`, below the service. ``runner`` (a run's life, end to
end), ``launcher`` and its helper program ``launch_helper`` (the process that forks, so the
server never does; standard library only, run by path), ``watcher`` (reads the runs' pipes,
hears starts and exits), ``pod_events`` (the Kubernetes-like events of a run's pod).
"""

__all__: list[str] = []
