"""While an MMAR's code runs, imports of MONAI names removed since 0.5 resolve to today's equivalents.

Custom code written for Clara Train 4.x imports names such as ``monai.metrics.compute_meandice``
(gone since MONAI 1.2) or modules such as ``monai.handlers.segmentation_saver`` (gone since 0.9).
Inside :func:`legacy_monai_names` the modules that still exist answer the missing names through a
module ``__getattr__`` (PEP 562), and the modules that are gone are provided by an import finder;
both serve the rows of :mod:`runner.legacy.monai_names`, with one warning per name that says where
it was used and what it now is. A name with no successor raises ImportError naming the MONAI
release that removed it. Leaving the context removes every trace, so two runs in one process
cannot see each other's state.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner.legacy.monai_names import REMOVED_MODULES, RemovedName, rows_in

logger = logging.getLogger(__name__)

_RUNNER = str(Path(__file__).resolve().parents[1])


class RemovedNameError(ImportError):
    """A MONAI name custom code imports was removed and has no successor."""


def resolve(module: str, row: RemovedName) -> Any:
    """Today's object for a removed name, or RemovedNameError; warns once per MMAR, module and name in a process."""
    if row.successor is None:
        raise RemovedNameError(f"{module}.{row.name} was removed in MONAI {row.removed} and has no successor: {row.note}",
                               name=row.name)
    owner, _, attribute = row.successor.rpartition(".")
    value = getattr(importlib.import_module(owner), attribute)
    key = (_root, module, row.name)
    if key not in _warned:
        _warned.add(key)
        logger.warning("%s%s.%s is gone since MONAI %s; using %s (%s)", _caller(), module, row.name, row.removed,
                       row.successor, row.note)
    return value


def _caller() -> str:
    """``custom/x.py, line 3: `` for the user frame that asked (relative to the MMAR), "" when none can be told."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(("<frozen", _RUNNER)) and "importlib" not in name:
            shown = name[len(_root) + 1:] if _root and name.startswith(_root + "/") else name
            return f"{shown}, line {frame.f_lineno}: "
        frame = frame.f_back
    return ""


_warned: set[tuple[str, str, str]] = set()  # (MMAR root, module, name): one warning each per process
_root = ""


def _module_getattr(module: str, previous: Any) -> Any:
    rows = rows_in(module)

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562 hook
        row = rows.get(name)
        if row is not None:
            return resolve(module, row)
        if previous is not None:
            return previous(name)
        raise AttributeError(f"module '{module}' has no attribute '{name}'")

    return __getattr__


class _RemovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Provides the MONAI modules that are gone (``monai.handlers.segmentation_saver``...) as shims."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in REMOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name, f"MONAI's {spec.name}, removed; served by mmar-runner for Clara-era code")
        module.__path__ = []
        module.__getattr__ = _module_getattr(spec.name, None)  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


@contextmanager
def legacy_monai_names(root: Path | None = None) -> Iterator[None]:
    """Serve the removed names for the duration of an MMAR's run (see the module docstring).

    ``root``: the MMAR, so warnings name its files relative to it.
    """
    global _root
    _root = str(root.resolve()) if root is not None else ""
    installed: list[tuple[types.ModuleType, Any, bool]] = []
    finder = _RemovedModuleFinder()
    for module_name in _existing_modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        had = "__getattr__" in module.__dict__
        previous = module.__dict__.get("__getattr__")
        module.__getattr__ = _module_getattr(module_name, previous)  # type: ignore[method-assign]
        installed.append((module, previous, had))
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for module, previous, had in installed:
            if had:
                module.__getattr__ = previous  # type: ignore[method-assign]
            else:
                module.__dict__.pop("__getattr__", None)
        for name in [n for n, m in sys.modules.items() if n in REMOVED_MODULES or getattr(m, "__spec__", None) and
                     isinstance(getattr(m.__spec__, "loader", None), _RemovedModuleFinder)]:
            del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and isinstance(getattr(sys.modules[parent], child, None), types.ModuleType):
                delattr(sys.modules[parent], child)
        _root = ""


def _existing_modules() -> list[str]:
    from runner.legacy.monai_names import REMOVED_NAMES

    return sorted({m for row in REMOVED_NAMES for m in row.modules if m not in REMOVED_MODULES})
