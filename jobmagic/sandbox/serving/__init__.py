"""The sandbox served: in this process, as its own OS process, and how others find it.

The top layer. ``server`` (:class:`~jobmagic.sandbox.serving.server.SandboxServer`: uvicorn in
a thread), ``http_stack`` (the fastest HTTP stack installed), ``process`` (the sandbox as its
own OS process, started and reached without a web stack), ``address`` (the address file;
standard library only).
"""

__all__: list[str] = []
