"""Locate and read an MMAR folder: its root, config files and ``custom/`` code.

This module knows the folder layout and nothing of config semantics. Relative paths given with
``-c``/``-e`` resolve against the MMAR root, never the shell's working directory, as Clara did.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, ConfigIssue, MmarLayoutError
from runner.jsonio import load_json

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "config/config_train.json"
DEFAULT_ENVIRONMENT = "config/environment.json"


@dataclass(frozen=True)
class Mmar:
    """An MMAR on disk with the two JSON documents a run needs, as read (no substitution)."""

    root: Path
    config_file: Path
    environment_file: Path | None
    config: dict[str, Any]
    environment: dict[str, Any]

    def display(self, path: Path) -> str:
        """A path as users see it in messages: relative to the MMAR root where possible."""
        return display_path(self.root, path)

    @property
    def config_name(self) -> str:
        return self.display(self.config_file)

    @property
    def environment_name(self) -> str:
        return self.display(self.environment_file) if self.environment_file else "environment"

    @property
    def custom_dir(self) -> Path:
        return self.root / "custom"


def resolve_in_mmar(root: Path, path: str | Path) -> Path:
    """Resolve ``path`` against the MMAR root unless it is absolute."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (root / candidate)


def load_mmar(root: str | Path, config: str | Path | None = None, environment: str | Path | None = None) -> Mmar:
    """Read an MMAR's config and environment files.

    Raises:
        MmarLayoutError: the folder or config file is missing, or a file is not valid JSON.
    """
    root_path = Path(root).expanduser().resolve()
    if not root_path.exists():
        raise MmarLayoutError(f"{root}: MMAR folder not found")
    if not root_path.is_dir():
        raise MmarLayoutError(f"{root}: not a folder", hint="pass the MMAR root folder, not a file in it")
    config_path = resolve_in_mmar(root_path, config or DEFAULT_CONFIG)
    if not config_path.is_file():
        raise MmarLayoutError(
            f"{root_path / (config or DEFAULT_CONFIG)}: config file not found",
            hint="an MMAR keeps its training config at config/config_train.json; pass another with -c",
        )
    env_path: Path | None = resolve_in_mmar(root_path, environment or DEFAULT_ENVIRONMENT)
    assert env_path is not None
    if not env_path.is_file():
        if environment is not None:
            raise MmarLayoutError(f"{env_path}: environment file not found")
        logger.warning("%s not found; running with no environment variables", env_path)
        env_path = None
    config_data = _load_object(config_path, display_path(root_path, config_path))
    env_data = _load_object(env_path, display_path(root_path, env_path)) if env_path is not None else {}
    return Mmar(root_path, config_path, env_path, config_data, env_data)


def display_path(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _load_object(path: Path, shown: str) -> dict[str, Any]:
    data = load_json(path, shown)
    if not isinstance(data, dict):
        raise MmarLayoutError(f"{shown}: the top level must be a JSON object")
    return data


def custom_top_level_modules(custom: Path) -> dict[str, Path]:
    """The top-level module names custom/ defines (``json`` for custom/json.py or custom/json/), with their file."""
    found: dict[str, Path] = {}
    if not custom.is_dir():
        return found
    for entry in sorted(custom.iterdir()):
        if entry.is_file() and entry.suffix == ".py":
            found.setdefault(entry.stem, entry)
        elif entry.is_dir() and entry.name.isidentifier() and (
                (entry / "__init__.py").is_file() or any(entry.glob("*.py"))):
            found.setdefault(entry.name, entry)
    return found


def shadowed_modules(root: Path) -> list[ConfigIssue]:
    """Modules in custom/ named like a standard-library or an installed module, which they would hide.

    Custom code is on the import path as top-level modules, so ``custom/json.py`` would stand in for
    the standard library's ``json`` (and run when anything, MONAI or the runner, imports it). Found
    by name for the standard library, and by a search of the import path without custom/ (on the
    host, in commands/*.sh where PYTHONPATH holds custom/, and in the image) for installed ones.
    """
    custom = (root / "custom").resolve()
    elsewhere = [p for p in sys.path if not _within(p, custom)]
    issues = []
    for name, file in custom_top_level_modules(custom).items():
        shown = display_path(root.resolve(), file)
        if name in sys.stdlib_module_names:
            what = f"the standard-library module {name}"
        else:
            spec = _installed_spec(name, elsewhere)
            if spec is None:
                continue
            origin = spec.origin or next(iter(spec.submodule_search_locations or []), "installed")
            what = f"the installed module {name} ({origin})"
        issues.append(ConfigIssue(shown, "", f"custom code named {name} would hide {what}",
                                  hint=f"rename {shown} (and its imports); custom/ modules import as top-level names"))
    return issues


def _installed_spec(name: str, path: list[str]) -> Any:
    """Where ``name`` would import from without custom/: every finder (editable installs too), sys.path less custom/."""
    import importlib.machinery

    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, path) if finder is importlib.machinery.PathFinder else find(name, None)
        except (ImportError, ValueError, TypeError):
            continue
        if spec is not None:
            return spec
    return None


def _within(entry: str, folder: Path) -> bool:
    try:
        return Path(entry or ".").resolve().is_relative_to(folder)
    except OSError:
        return False


@contextmanager
def custom_code_on_path(root: Path) -> Iterator[None]:
    """Make ``<root>/custom`` importable as top-level modules for the duration of a run.

    Refused (ConfigError) when a module there would hide a standard-library or installed one. On
    exit the folder leaves ``sys.path`` and every module imported from it leaves ``sys.modules``,
    so two runs in one process (tests, benchmarks) cannot see each other's code.
    """
    custom = (root / "custom").resolve()
    if not custom.is_dir():
        yield
        return
    shadowing = shadowed_modules(root)
    if shadowing:
        raise ConfigError(shadowing)
    entry = str(custom)
    before = set(sys.modules)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(entry)
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules.get(name), "__file__", None) or ""
            if module_file.startswith(entry):
                del sys.modules[name]
