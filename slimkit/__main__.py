"""``python -m slimkit``: the same command line as ``slimkit``."""

from slimkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
