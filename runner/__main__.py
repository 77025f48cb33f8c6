"""``python -m runner`` is the same CLI as ``mmar``."""

from runner.cli import main

main()
