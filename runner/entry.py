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
        _wait_for_transforms()
        collector.before_exit()


TRANSFORMS_WAIT_S = 60.0


def _wait_for_transforms() -> None:
    """Let transforms still running in other threads finish before the interpreter exits (bounded).

    A CacheDataset whose cache filling failed leaves its pool's threads running the cases they hold;
    killed inside torch at exit, they abort the process after its error was printed (exit -6). Only
    a process that ran transforms has imported :mod:`runner.data.cases`, so this stays light.
    """
    cases = sys.modules.get("runner.data.cases")
    if cases is not None and not cases.wait_for_transforms(TRANSFORMS_WAIT_S):
        sys.stderr.write(f"warning: transforms still running after {TRANSFORMS_WAIT_S:.0f}s; exiting anyway\n")


if __name__ == "__main__":
    main()
