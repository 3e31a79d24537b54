"""jobmagic: trigger and watch TrueFoundry jobs from Jupyter."""

from jobmagic._version import __version__

__all__ = ["__version__"]
