"""custom/ -> scripts/: the MMAR's code as the bundle's ``scripts`` package, plus the pins module.

Each module is copied with the imports of MONAI names removed since Clara's MONAI rewritten, as
``mmar migrate`` rewrites them (the runner shims them at import time; MONAI alone does not). A
module that imports another custom module top-level (``import my_loss``, as Clara's PYTHONPATH
allowed) keeps working: the bundle then puts scripts/ on the import path in ``initialize``.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from runner.legacy.custom_imports import migrate_source, python_files
from runner.mmar import custom_top_level_modules

PINS_FILE = "mmar_pins.py"
PINS_SOURCE = Path(__file__).with_name("bundle_pins.py")


def write_scripts(custom: Path, scripts: Path) -> dict[str, int]:
    """Copy ``custom`` into ``scripts`` (a package), rewrite removed MONAI imports; returns file -> imports rewritten."""
    scripts.mkdir(parents=True, exist_ok=True)
    rewritten: dict[str, int] = {}
    if custom.is_dir():
        shutil.copytree(custom, scripts, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for file in python_files(scripts):
            source = file.read_text(encoding="utf-8")
            migrated, changes = migrate_source(source)
            if changes:
                file.write_text(migrated, encoding="utf-8")
                rewritten[file.relative_to(scripts).as_posix()] = len(changes)
    init = scripts / "__init__.py"
    if not init.exists():
        init.write_text("", encoding="utf-8")
    shutil.copyfile(PINS_SOURCE, scripts / PINS_FILE)
    return rewritten


def imports_each_other(custom: Path) -> bool:
    """Whether a custom module imports another custom module by its top-level name."""
    if not custom.is_dir():
        return False
    own = set(custom_top_level_modules(custom))
    for file in python_files(custom):
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            if any(name.split(".")[0] in own for name in names):
                return True
    return False
