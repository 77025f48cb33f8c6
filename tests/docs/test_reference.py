"""docs/REFERENCE.md names every key the config models know, and its examples are real."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel

from runner.config.load import load_config
from runner.config.models import (
    CheckpointModel,
    ComponentSpec,
    DatasetSpec,
    Determinism,
    EnvironmentConfig,
    EvalConfig,
    RefSpec,
    TorchScriptModel,
    TrainConfig,
    TrainSection,
    ValidateSection,
)
from tests.docs.snippets import REPO

REFERENCE = REPO / "docs" / "REFERENCE.md"
MODELS: tuple[type[BaseModel], ...] = (TrainConfig, TrainSection, ValidateSection, ComponentSpec, DatasetSpec, RefSpec,
                                       Determinism, EnvironmentConfig, EvalConfig, TorchScriptModel, CheckpointModel)


def documented_keys() -> set[str]:
    """Keys in the first column of a table row, or listed in backticks in prose."""
    text = REFERENCE.read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|", text, re.M)) | set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", text))


def test_every_schema_key_is_documented() -> None:
    keys = {field.alias or name for model in MODELS for name, field in model.model_fields.items()}
    table_keys = set(re.findall(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|", REFERENCE.read_text(encoding="utf-8"), re.M))
    assert keys - documented_keys() == set()
    # each key of the training config, sections and components has its own row with an example
    row_keys = {field.alias or name for model in MODELS if model is not EvalConfig for name, field in model.model_fields.items()}
    assert row_keys - table_keys == set()


def test_the_smallest_config_shown_is_the_example_and_it_checks() -> None:
    shown = re.search(r"```json\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), re.S)
    assert shown is not None
    example = REPO / "docs" / "examples" / "minimal"
    assert json.loads(shown.group(1)) == json.loads((example / "config" / "config_train.json").read_text(encoding="utf-8"))
    loaded = load_config(example, None, None, [], strict=False, kind=None)  # schema and variables; the doc test runs mmar check
    assert loaded.model.train.trainer.name == "SupervisedTrainer" and not loaded.errors
