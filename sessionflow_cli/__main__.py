"""``python -m sessionflow_cli``: the ``sessionflow`` command."""

from sessionflow_cli.cli import main

main()
