"""Short component ``name`` lookup across the field's packages, and dotted ``path`` imports.

The search order is explicit and fixed (first match wins), so a name means the same class on every
machine: MONAI first (networks, losses, transforms, engines, handlers, inferers, metrics, data,
optimizers, apps), then torch (optim, lr_scheduler, nn), then ignite (metrics, handlers).
"""

from __future__ import annotations

import difflib
import importlib
import sys
import traceback
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SEARCH_MODULES: tuple[str, ...] = (
    "monai.networks.nets",
    "monai.losses",
    "monai.transforms",
    "monai.engines",
    "monai.handlers",
    "monai.inferers",
    "monai.metrics",
    "monai.data",
    "monai.optimizers",
    "monai.networks.layers",
    "monai.apps",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torch.nn",
    "ignite.metrics",
    "ignite.handlers",
)


@dataclass(frozen=True)
class LookupFailure:
    """Why a name or path did not resolve, with the user's code location when it is to blame."""

    message: str
    hint: str | None = None


class TargetNotFound(Exception):
    def __init__(self, failure: LookupFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@cache
def _module(name: str) -> Any:
    return importlib.import_module(name)


def find_by_name(name: str) -> Any:
    """Return the first public attribute called ``name`` in :data:`SEARCH_MODULES`."""
    for module_name in SEARCH_MODULES:
        found = getattr(_module(module_name), name, None)
        if found is not None and not name.startswith("_"):
            return found
    close = difflib.get_close_matches(name, known_names(), n=5, cutoff=0.6)
    hint = f"closest known names: {', '.join(close)}" if close else "use \"path\" with a dotted import path for classes outside MONAI, torch and ignite"
    raise TargetNotFound(LookupFailure(f"unknown component name '{name}'", hint))


@cache
def known_names() -> list[str]:
    """Every public callable name the lookup can find (for suggestions)."""
    names: set[str] = set()
    for module_name in SEARCH_MODULES:
        module = _module(module_name)
        names.update(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n, None)))
    return sorted(names)


def dictionary_form(target: Any) -> str | None:
    """``RandShiftIntensityd`` for MONAI's ``RandShiftIntensity``: the dictionary transform beside an array one, if any.

    Configs pass ``keys`` to transforms; an array transform's name without its ``d`` is a common slip.
    """
    name = getattr(target, "__name__", "")
    transforms = _module("monai.transforms")
    if not name or getattr(transforms, name, None) is not target or not callable(getattr(transforms, f"{name}d", None)):
        return None
    return f"{name}d"


def import_path(dotted: str) -> Any:
    """Import ``pkg.module.Attr``: the longest importable module prefix, then attributes.

    A module that exists but fails while importing is reported with its own file and line, not as
    "not found", because that is the user's bug to fix.
    """
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise TargetNotFound(LookupFailure(f"'{dotted}' is not a dotted path like module.Class"))
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue
            raise TargetNotFound(_raised_on_import(module_name, exc)) from exc
        except Exception as exc:  # noqa: BLE001 - any error inside user code is reported, not raised
            raise TargetNotFound(_raised_on_import(module_name, exc)) from exc
        value: Any = module
        for attr in parts[cut:]:
            if not hasattr(value, attr):
                hint = _attr_hint(value, attr)
                where = f" ({module.__file__})" if getattr(module, "__file__", None) else ""
                raise TargetNotFound(LookupFailure(f"module '{module_name}'{where} has no attribute '{'.'.join(parts[cut:])}'", hint))
            value = getattr(value, attr)
        return value
    raise TargetNotFound(
        LookupFailure(
            f"cannot import '{dotted}': no module named '{parts[0]}'",
            "custom code belongs in the MMAR's custom/ folder and is imported top-level (custom/my_model.py -> my_model.Model)",
        )
    )


def _attr_hint(module: Any, attr: str) -> str | None:
    names = [n for n in dir(module) if not n.startswith("_")]
    close = difflib.get_close_matches(attr, names, n=3)
    return f"did you mean {', '.join(close)}?" if close else None


def _raised_on_import(module_name: str, exc: BaseException) -> LookupFailure:
    where = user_code_location(exc)
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        detail = f"SyntaxError: {exc.msg}"
    elif type(exc).__name__ == "RemovedNameError":  # the custom/ import check names it, with the release that removed it
        detail = "it imports a MONAI name that was removed (see the line above)"
    return LookupFailure(f"importing module '{module_name}' failed{where}: {detail}")


def definition_site(obj: Any) -> str:
    """`` (custom/x.py, line 3)`` where a class or function is defined (an instance: its class); "" if unknown."""
    import inspect

    target = obj if inspect.isclass(obj) or inspect.isroutine(obj) else type(obj)
    try:
        file = inspect.getsourcefile(target)
        _, line = inspect.getsourcelines(target)
    except (TypeError, OSError):
        return ""
    return f" ({file}, line {line})" if file else ""


def user_code_location(exc: BaseException) -> str:
    """`` (custom/x.py, line 3)`` for the innermost frame outside the Python/library install."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    prefixes = tuple({sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[1])})
    user = [f for f in frames if not f.filename.startswith(prefixes) and not f.filename.startswith("<frozen")]
    if not user:
        return ""
    frame = user[-1]
    return f" ({frame.filename}, line {frame.lineno})"
