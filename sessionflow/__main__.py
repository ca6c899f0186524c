"""``python -m sessionflow``: the CLI."""

from sessionflow.cli import main

main()
