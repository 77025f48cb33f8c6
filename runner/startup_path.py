"""Take an MMAR's custom/ off PYTHONPATH before anything else imports through it.

Clara's set_env.sh put ``$MMAR_ROOT/custom`` on PYTHONPATH, which Python places ahead of the
standard library: a ``custom/csv.py`` would then stand in for ``csv`` in every process, before any
check could run. mmar puts custom/ on the import path itself, after checking that nothing there
hides another module (:func:`runner.mmar.custom_code_on_path`), so the entry point drops such
folders from ``sys.path`` and from the PYTHONPATH its children inherit. Standard library only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger("runner")


def is_mmar_custom_folder(entry: str) -> bool:
    """A folder named custom/ beside a config/ folder: an MMAR's bring-your-own-code folder."""
    if not entry:
        return False
    folder = Path(entry)
    return folder.name == "custom" and (folder.parent / "config").is_dir()


def without_custom_folders(pythonpath: str) -> tuple[str, list[str]]:
    """``pythonpath`` less the MMAR custom/ folders, and the folders taken out."""
    kept, dropped = [], []
    for entry in pythonpath.split(os.pathsep):
        (dropped if is_mmar_custom_folder(entry) else kept).append(entry)
    return os.pathsep.join(kept), dropped


def drop_custom_from_import_path(environ: dict[str, str] | os._Environ[str], path: list[str]) -> list[str]:
    """Remove MMAR custom/ folders from ``environ['PYTHONPATH']`` and ``path`` (sys.path); the folders removed."""
    pythonpath = environ.get("PYTHONPATH", "")
    kept, dropped = without_custom_folders(pythonpath)
    if not dropped:
        return []
    if kept:
        environ["PYTHONPATH"] = kept
    else:
        environ.pop("PYTHONPATH", None)
    gone = {os.path.realpath(folder) for folder in dropped}
    path[:] = [entry for entry in path if not entry or os.path.realpath(entry) not in gone]
    return dropped


def warn_dropped(dropped: list[str]) -> None:
    """Tell the user why custom/ left PYTHONPATH (it is still imported, after the shadow check)."""
    if dropped:
        logger.warning("%s left PYTHONPATH: mmar puts custom/ on the import path itself, after checking that nothing "
                       "there hides another module (drop the PYTHONPATH line from set_env.sh)", ", ".join(dropped))
