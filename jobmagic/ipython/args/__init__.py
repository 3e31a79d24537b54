"""The magics' command lines, parsed into plain data, and their help. Pure: no shell."""

__all__: list[str] = []
