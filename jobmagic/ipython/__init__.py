"""The only layer that knows an IPython shell: the extension, its magics and settings,
their line parsers and help (``args``), completion, and how runs display."""

__all__: list[str] = []
