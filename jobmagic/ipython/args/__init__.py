"""The magics' command lines, parsed into plain data, and their help. Pure: no shell."""
