"""The ``jobmagic`` command: ``sandbox``, ``lab``, ``demo`` (see :mod:`jobmagic.cli.main`)."""

from jobmagic.cli.main import main

__all__ = ["main"]
