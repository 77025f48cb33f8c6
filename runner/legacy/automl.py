"""Clara AutoML search-space configs trained as one plain run: the first point of the space, by name.

A Clara 4.x AutoML config is a training config with a search space in it:

* ``"search": [{"domain": "lr", "type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-3]}]``
  at the top level (the args are variables) or inside a component (the args are its arguments;
  ``"prob#myProb"`` also publishes the value as ``myProb``; ``"@disabled"`` is the component's
  ``disabled``); ``type`` is ``float`` (``targets`` a [min, max] range) or ``enum`` (``targets`` a
  list of alternatives, each one value per arg);
* ``"apply": {"prob": "myProb", "@disabled": "mySearchLoss1"}`` in a component, taking an argument
  or ``disabled`` from such a value;
* a component slot holding a list of alternative components (``"loss": [DiceLoss, FocalLoss]``),
  each disabled or not through ``apply``.

mmar runs no search. :func:`expand_search_space` turns every dimension into ordinary variables set
to its first point (the first alternative of an enum, the lower bound of a float range), so the
config is a plain one and ``--set NAME=VALUE`` picks another point by the dimension's name;
:func:`collapse_alternatives` then keeps the one enabled alternative of each slot, and
:func:`check_point` refuses a point outside the space. Pure JSON work; nothing is imported.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from runner.errors import ConfigIssue

SINGLE_SLOTS = frozenset({"loss", "optimizer", "lr_scheduler", "model", "dataset", "dataloader", "inferer", "iteration", "trainer",
                          "evaluator", "key_metric"})
_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class Dimension:
    """One search entry: the variables it sets and the values it may take."""

    variables: tuple[str, ...]
    kind: Literal["enum", "float"]
    where: str  # JSON path of the search entry
    choices: tuple[tuple[Any, ...], ...] = ()  # enum: one tuple of values (one per variable) per alternative
    bounds: tuple[float, float] | None = None  # float: [min, max]

    def first(self) -> tuple[Any, ...]:
        if self.kind == "enum":
            return self.choices[0]
        return (self.bounds[0],) * len(self.variables)

    def describe(self) -> str:
        if self.kind == "float":
            return f"a number in [{self.bounds[0]}, {self.bounds[1]}]"
        shown = [", ".join(f"{v}={c!r}" for v, c in zip(self.variables, choice, strict=True)) for choice in self.choices]
        return " | ".join(shown)


@dataclass
class SearchSpace:
    """The dimensions found in a config, and the variables they created."""

    dimensions: list[Dimension] = field(default_factory=list)

    def first_point(self) -> dict[str, Any]:
        return {v: value for d in self.dimensions for v, value in zip(d.variables, d.first(), strict=True)}

    def variables(self) -> list[str]:
        return [v for d in self.dimensions for v in d.variables]


def has_search_space(config: dict[str, Any]) -> bool:
    return bool(_search_entries(config)) or any(_alternative_slots(config))


def _search_entries(value: Any) -> list[Any]:
    found = []
    if isinstance(value, dict):
        if isinstance(value.get("search"), list):
            found.append(value["search"])
        for item in value.values():
            found += _search_entries(item)
    elif isinstance(value, list):
        for item in value:
            found += _search_entries(item)
    return found


def _alternative_slots(config: dict[str, Any]) -> list[tuple[str, str]]:
    slots = []
    for section in ("train", "validate"):
        body = config.get(section)
        if isinstance(body, dict):
            slots += [(section, slot) for slot, value in body.items() if slot in SINGLE_SLOTS and isinstance(value, list)]
    return slots


def expand_search_space(raw: dict[str, Any], file: str) -> tuple[dict[str, Any], SearchSpace | None, list[ConfigIssue]]:
    """The config with every search dimension as variables at its first point (see the module docstring).

    Returns the rewritten config (``raw`` is not changed), the space (None when the config has none)
    and the problems found in its shape.
    """
    if not has_search_space(raw):
        return raw, None, []
    config = copy.deepcopy(raw)
    space = SearchSpace()
    issues: list[ConfigIssue] = []
    taken = {k for k in config if k not in ("train", "validate")}
    for index, entry in enumerate(config.pop("search", None) or []):
        variables = [str(a).lstrip("@").split("#")[-1] for a in _args_of(entry)]
        _add_dimension(space, issues, file, f"search[{index}]", entry, variables)
    for path, component, label in _components(config):
        for index, entry in enumerate(component.pop("search", None) or []):
            variables = []
            for arg in _args_of(entry):
                target, _, alias = str(arg).partition("#")
                variable = alias or _unique(_IDENTIFIER.sub("_", f"{label}_{target.lstrip('@')}"), taken)
                taken.add(variable)
                _point_at(component, target, variable)
                variables.append(variable)
            _add_dimension(space, issues, file, f"{path}.search[{index}]", entry, variables)
        for target, variable in (component.pop("apply", None) or {}).items():
            _point_at(component, target, str(variable))
    for dimension in space.dimensions:
        for variable, value in zip(dimension.variables, dimension.first(), strict=True):
            config[variable] = value
    return config, space, issues


def _args_of(entry: Any) -> list[Any]:
    args = entry.get("args") if isinstance(entry, dict) else None
    return [args] if isinstance(args, str) else list(args or [])


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


def _point_at(component: dict[str, Any], target: str, variable: str) -> None:
    """Make an argument (``prob``) or the ``disabled`` attribute (``@disabled``) take ``{variable}``."""
    if target.startswith("@"):
        component[target[1:]] = "{" + variable + "}"
    else:
        component.setdefault("args", {})[target] = "{" + variable + "}"


def _add_dimension(space: SearchSpace, issues: list[ConfigIssue], file: str, where: str, entry: Any, variables: list[str]) -> None:
    kind = entry.get("type") if isinstance(entry, dict) else None
    targets = entry.get("targets") if isinstance(entry, dict) else None
    if not variables or kind not in ("enum", "float") or not isinstance(targets, list) or not targets:
        issues.append(ConfigIssue(file, where, "a search entry needs \"args\", \"type\" (enum or float) and non-empty \"targets\""))
        return
    if kind == "float":
        if len(targets) != 2 or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in targets):
            issues.append(ConfigIssue(file, f"{where}.targets", f"a float search range is [min, max], got {targets!r}"))
            return
        space.dimensions.append(Dimension(tuple(variables), "float", where, bounds=(targets[0], targets[1])))
        return
    choices = []
    for alternative in targets:
        values = tuple(alternative) if isinstance(alternative, list) else (alternative,)
        if len(values) != len(variables):
            issues.append(ConfigIssue(file, f"{where}.targets", f"each alternative gives one value per arg ({len(variables)}), "
                                      f"got {alternative!r}"))
            return
        choices.append(values)
    space.dimensions.append(Dimension(tuple(variables), "enum", where, choices=tuple(choices)))


def _components(config: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(JSON path, component, label) for every component of the sections, list alternatives included."""
    found = []
    for section in ("train", "validate"):
        body = config.get(section)
        if not isinstance(body, dict):
            continue
        for slot, value in body.items():
            items = [(f"{section}.{slot}", value)] if isinstance(value, dict) else \
                [(f"{section}.{slot}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else []
            for path, item in items:
                if isinstance(item, dict) and ("name" in item or "path" in item):
                    label = str(item.get("name") or str(item.get("path")).rsplit(".", 1)[-1])
                    found.append((path, item, label))
    return found


def collapse_alternatives(resolved: dict[str, Any], file: str) -> tuple[dict[str, Any], dict[str, str], list[ConfigIssue]]:
    """Each slot given as a list of alternatives becomes its one enabled alternative (variables substituted).

    Returns the config, the chosen label per slot (``{"train.loss": "FocalLoss"}``) and the problems:
    none or several alternatives enabled.
    """
    chosen: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    result = dict(resolved)
    for section, slot in _alternative_slots(resolved):
        body = dict(result[section])
        alternatives = body[slot]
        enabled = [a for a in alternatives if isinstance(a, dict) and a.get("disabled") is not True]
        labels = [str(a.get("name") or a.get("path")) for a in alternatives if isinstance(a, dict)]
        if len(enabled) != 1:
            issues.append(ConfigIssue(file, f"{section}.{slot}", f"{len(enabled)} of the alternatives {', '.join(labels)} are enabled; "
                                      "exactly one must be", hint="pick one with the search variables, e.g. --set NAME=VALUE"))
            body[slot] = next(iter(enabled or alternatives), {})  # keeps the shape valid: this is the one problem to report
            result[section] = body
            continue
        body[slot] = enabled[0]
        chosen[f"{section}.{slot}"] = str(enabled[0].get("name") or enabled[0].get("path"))
        result[section] = body
    return result, chosen, issues


def check_point(space: SearchSpace, values: dict[str, Any], file: str) -> list[ConfigIssue]:
    """The chosen values (after environment.json and --set) must be a point of the space."""
    issues = []
    for dimension in space.dimensions:
        point = tuple(values.get(v) for v in dimension.variables)
        names = ", ".join(dimension.variables)
        if dimension.kind == "enum" and point not in dimension.choices:
            issues.append(ConfigIssue(file, dimension.where, f"{names} = {', '.join(map(repr, point))} is not a point of this search "
                                      f"dimension", hint=f"its points: {dimension.describe()}"))
        elif dimension.kind == "float":
            low, high = dimension.bounds
            outside = [v for v in point if not isinstance(v, (int, float)) or isinstance(v, bool) or not low <= v <= high]
            if outside:
                issues.append(ConfigIssue(file, dimension.where, f"{names} = {outside[0]!r} is outside the search range [{low}, {high}]"))
    return issues


def describe_point(space: SearchSpace, values: dict[str, Any], chosen: dict[str, str]) -> str:
    """One line: every dimension's value, and the alternative each slot took."""
    parts = [f"{v}={values.get(v)!r}" for v in space.variables()]
    parts += [f"{slot}={label}" for slot, label in chosen.items()]
    return "; ".join(parts)
