"""The ``jobmagic`` command: ``sandbox``, ``lab``, ``demo`` (see :mod:`jobmagic.cli.main`)."""

from __future__ import annotations

from jobmagic.cli.main import main

__all__ = ["main"]
