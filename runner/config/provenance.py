"""Which ``{variable}`` produced a value of the config, so a message can name the knob to turn.

Substitution (:mod:`runner.config.vars`) replaces ``"spatial_size": "{patch_size}"`` by the list
itself, after which nothing in the resolved config remembers ``patch_size``. The config as written
(``LoadedConfig.mmar.config``: after legacy rewrites, before substitution) has the same shape as
the resolved one, so the value written at the same JSON path says which variables are behind it.
A variable whose own value is ``"{other}"`` is followed to ``other``, and each is named with where
it is set (``--set`` > environment.json > the config's top level). Pure: reads, never imports MONAI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.config.vars import DEFAULT_VARIABLES, SET_SOURCE, VARIABLE, value_at

if TYPE_CHECKING:
    from runner.config.load import LoadedConfig

@dataclass(frozen=True)
class VariableOrigin:
    """A variable behind a value, and the file (or ``--set``) that gives it its value."""

    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"


def variables_in(value: Any) -> list[str]:
    """The ``{name}`` references written in a raw value (strings in lists and dicts too), in order."""
    if isinstance(value, str):
        return [] if value.lstrip().startswith("lambda") else VARIABLE.findall(value)
    if isinstance(value, list):
        return _unique(name for item in value for name in variables_in(item))
    if isinstance(value, dict):
        return _unique(name for item in value.values() for name in variables_in(item))
    return []


def variables_behind(loaded: LoadedConfig, path: str) -> list[VariableOrigin]:
    """The variables that produced the config's value at ``path``, each followed through aliases.

    Empty when the value was written literally (or the path is not in the config as written).
    """
    found: list[VariableOrigin] = []
    found_value, raw_value = value_at(loaded.mmar.config, path)
    pending = variables_in(raw_value) if found_value else []
    while pending:
        name = pending.pop(0)
        if any(origin.name == name for origin in found):
            continue  # a cycle was reported when loading
        source, raw = _source_of(loaded, name)
        found.append(VariableOrigin(name, source))
        whole = VARIABLE.fullmatch(raw) if isinstance(raw, str) else None
        if whole:
            pending.append(whole.group(1))
    return found


def _source_of(loaded: LoadedConfig, name: str) -> tuple[str, Any]:
    """Where ``name`` gets its value, highest precedence first, and the value as written there."""
    overrides: Mapping[str, Any] = loaded.overrides
    if name in overrides or any(key.split(".")[0] == name for key in overrides):
        return SET_SOURCE, overrides.get(name)
    if name in loaded.mmar.environment:
        return loaded.mmar.environment_name, loaded.mmar.environment[name]
    if name in loaded.mmar.config:
        return loaded.mmar.config_name, loaded.mmar.config[name]
    return "runner default", DEFAULT_VARIABLES.get(name)


def _unique(names: Any) -> list[str]:
    return list(dict.fromkeys(names))
