"""Find the class or function a ``_target_`` names, the way MONAI's ``ComponentLocator`` does, without building it.

| ``_target_`` | found by |
|---|---|
| short name (``UNet``) | MONAI's ``ComponentLocator``: every class/function of the imported ``monai.*`` modules |
| a builtin (``dict``), not a MONAI name | ``builtins``, as MONAI's ``pydoc.locate`` finds it |
| dotted (``torch.optim.Adam``) | importing the longest importable module prefix, then attributes (MONAI uses ``pydoc.locate``) |
| in the bundle (``scripts.net.Net``) | not imported: :mod:`runner.bundle.scripts_ast` reads the file |

Locating imports library modules (as MONAI does); it never calls what it finds.
"""

from __future__ import annotations

import builtins
import difflib
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Found:
    """What a ``_target_`` names; ``also`` lists the other modules defining a short name MONAI would not pick."""

    obj: Any
    module: str
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotFound:
    """Why a ``_target_`` cannot be located, with the closest names that exist."""

    message: str
    suggestions: tuple[str, ...] = ()


def is_bundle_code(target: str, root: Path) -> bool:
    """Whether a dotted ``_target_`` points into the bundle's own code (``scripts/`` or a top-level module)."""
    top = target.split(".", 1)[0]
    return (root / top).is_dir() or (root / f"{top}.py").is_file()


class Locator:
    """Short names through one MONAI ``ComponentLocator`` (its table is built once), dotted names by import."""

    def __init__(self) -> None:
        import monai  # noqa: F401 - loads monai's submodules, which the locator's table is built from
        from monai.bundle import ComponentLocator

        self._monai = ComponentLocator()

    def locate(self, target: str) -> Found | NotFound:
        return self._dotted(target) if "." in target else self._short(target)

    def _short(self, name: str) -> Found | NotFound:
        modules = self._monai.get_component_module_name(name)
        if modules is None and hasattr(builtins, name):
            return Found(getattr(builtins, name), "builtins")  # MONAI's pydoc.locate finds builtins (dict, list)
        if modules is None:
            return NotFound(f"unknown _target_ '{name}': no MONAI class or function has that name",
                            tuple(difflib.get_close_matches(name, self._short_names(), n=3, cutoff=0.6)))
        chosen, *others = [modules] if isinstance(modules, str) else modules  # MONAI takes the first
        return Found(getattr(importlib.import_module(chosen), name), chosen, tuple(others))

    def _short_names(self) -> list[str]:
        # ComponentLocator keeps its name table private; it is filled by the lookup above (MONAI 1.6).
        table = getattr(self._monai, "_components_table", None) or {}
        return list(table)

    def _dotted(self, target: str) -> Found | NotFound:
        parts = target.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module_name = ".".join(parts[:cut])
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    continue  # this prefix is not a module; try a shorter one
                return NotFound(f"_target_ '{target}': importing {module_name} failed: {exc}")
            except Exception as exc:  # noqa: BLE001 - a library that fails to import is reported, not raised
                return NotFound(f"_target_ '{target}': importing {module_name} failed: {type(exc).__name__}: {exc}")
            return _attributes(module, module_name, parts[cut:], target)
        return NotFound(f"unknown _target_ '{target}': no module {parts[0]} is installed")


def _attributes(module: Any, module_name: str, names: list[str], target: str) -> Found | NotFound:
    obj = module
    for depth, name in enumerate(names):
        if not hasattr(obj, name):
            parent = ".".join([module_name, *names[:depth]])
            close = difflib.get_close_matches(name, [n for n in dir(obj) if not n.startswith("_")], n=3, cutoff=0.6)
            return NotFound(f"unknown _target_ '{target}': {parent} has no {name}", tuple(f"{parent}.{c}" for c in close))
        obj = getattr(obj, name)
    return Found(obj, module_name)
