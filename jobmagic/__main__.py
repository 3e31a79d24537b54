"""``python -m jobmagic`` runs the ``jobmagic`` command."""

from jobmagic.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
