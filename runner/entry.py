"""Console-script entry point (``mmar``) and ``python -m runner``.

Light on purpose: when a command must run with ``PYTHONHASHSEED=0`` and the process was started
without it, we re-execute before importing the CLI library or anything heavier, so the restart
costs one interpreter start-up and nothing else. It also sets the collector up for a short-lived
process that imports torch (:mod:`runner.collector`).
"""

from __future__ import annotations

import os
import sys

from runner import collector
from runner.argv import expand_set_words, needs_hash_seed
from runner.startup_path import drop_custom_from_import_path, warn_dropped


def main() -> None:
    warn_dropped(drop_custom_from_import_path(os.environ, sys.path))
    argv = expand_set_words(sys.argv[1:])
    if needs_hash_seed(argv) and not os.environ.get("MMAR_NO_REEXEC"):
        os.execve(sys.executable, [sys.executable, "-m", "runner", *argv], {**os.environ, "PYTHONHASHSEED": "0"})
    collector.pause_for_startup()
    try:
        from runner.cli import app

        app(args=argv, prog_name="mmar")
    finally:
        collector.before_exit()


if __name__ == "__main__":
    main()
