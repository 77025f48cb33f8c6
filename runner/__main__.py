"""``python -m runner`` is the same CLI as ``mmar``."""

from runner.entry import main

main()
