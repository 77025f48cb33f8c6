"""Turn pydantic validation errors into ``ConfigIssue``s with JSON-style paths and plain words."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.config import models
from runner.errors import ConfigIssue

_TAGS = {"component", "ref"}


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``('train', 'pre_transforms', 3, 'component', 'args')`` -> ``train.pre_transforms[3].args``."""
    text = ""
    previous_was_index = False
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            previous_was_index = True
            continue
        if previous_was_index and part in _TAGS:
            previous_was_index = False
            continue
        previous_was_index = False
        text = f"{text}.{part}" if text else str(part)
    return text


def _known_keys() -> list[str]:
    keys: set[str] = set()
    for model in (models.TrainConfig, models.TrainSection, models.ValidateSection, models.DatasetSpec,
                  models.Determinism, models.RefSpec):
        keys.update(_field_names(model))
    return sorted(keys)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def issues_from_validation(error: ValidationError, file: str) -> list[ConfigIssue]:
    """One issue per pydantic error, worded for an MMAR author."""
    issues: list[ConfigIssue] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = format_loc(loc)
        kind = item["type"]
        given = item.get("input")
        hint: str | None = None
        last = str(loc[-1]) if loc else ""
        if kind == "missing":
            message = f"missing '{last}' section" if last in ("train", "trainer", "evaluator") and len(loc) <= 2 else f"required key '{last}' is missing"
        elif kind == "extra_forbidden":
            message = f"unknown key '{last}'"
            close = difflib.get_close_matches(last, _known_keys(), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "remove it, or move user variables to the top level"
        elif last == "random_seed":
            message = f"the seed must be an integer in [0, 2**32), got {_describe(given)}"
        elif kind in ("int_type", "int_parsing", "int_from_float"):
            message = f"expected an integer, got {_describe(given)}"
        elif kind in ("bool_type", "bool_parsing"):
            message = f"expected true or false, got {_describe(given)}"
        elif kind in ("float_type", "float_parsing"):
            message = f"expected a number, got {_describe(given)}"
        elif kind in ("dict_type", "model_type", "invalid_component"):
            message = f"expected an object, got {_describe(given)}"
        elif kind == "list_type":
            message = f"expected a list, got {_describe(given)}"
        elif kind == "value_error":
            message = str(item["msg"]).removeprefix("Value error, ")
        else:
            message = f"{item['msg']}, got {_describe(given)}"
        issues.append(ConfigIssue(file, path, message, hint))
    return issues


def render_warnings(issues: Sequence[ConfigIssue]) -> list[str]:
    """One text per warning, each hint shown once: after the last warning that carries it.

    A Clara 4.x MMAR has a legacy name in many places, and every one of those warnings gives the same
    remedy (``mmar migrate``); nineteen copies of it hide the warnings themselves.
    """
    last_with: dict[str, int] = {issue.hint: index for index, issue in enumerate(issues) if issue.hint}
    return [issue.render() if last_with.get(issue.hint or "") == index else replace(issue, hint=None).render()
            for index, issue in enumerate(issues)]
