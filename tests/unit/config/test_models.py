from __future__ import annotations

import pytest
from pydantic import ValidationError

from runner.config.models import ComponentSpec, TrainConfig
from runner.config.report import format_loc, issues_from_validation

MINIMAL = {"train": {"trainer": {"name": "SupervisedTrainer"}}}


def config(**top: object) -> dict:
    return {**MINIMAL, **top}


def test_component_needs_name_or_path() -> None:
    with pytest.raises(ValidationError, match="'name' or 'path'"):
        ComponentSpec.model_validate({"args": {}})


def test_path_wins_over_name() -> None:
    spec = ComponentSpec.model_validate({"name": "Label", "path": "pkg.mod.Cls"})
    assert spec.target == "pkg.mod.Cls"
    assert spec.label == "Label"
    assert ComponentSpec.model_validate({"path": "pkg.mod.Cls"}).label == "Cls"


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1])
def test_valid_seeds(seed: int) -> None:
    assert TrainConfig.model_validate(config(determinism={"random_seed": seed})).determinism.random_seed == seed


@pytest.mark.parametrize("seed", [-1, 2**32, "abc", "7", 1.5, True, None])
def test_invalid_seeds_are_rejected_with_the_path(seed: object) -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate(config(determinism={"random_seed": seed}))
    issues = issues_from_validation(info.value, "config/config_train.json")
    assert [i.path for i in issues] == ["determinism.random_seed"]
    assert "[0, 2**32)" in issues[0].message


def test_missing_train_section() -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate({"epochs": 1})
    issues = issues_from_validation(info.value, "c.json")
    assert issues[0].path == "train" and "missing 'train' section" in issues[0].message


def test_unknown_section_key_is_a_typo_with_suggestion() -> None:
    data = {"train": {"trainer": {"name": "SupervisedTrainer"}, "optimiser": {"name": "Adam"}}}
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate(data)
    issue = issues_from_validation(info.value, "c.json")[0]
    assert issue.path == "train.optimiser"
    assert "optimizer" in (issue.hint or "")


def test_unknown_top_level_keys_are_user_variables() -> None:
    model = TrainConfig.model_validate(config(in_channels=1, my_list=[1, 2]))
    assert model.model_extra == {"in_channels": 1, "my_list": [1, 2]}


def test_ref_and_component_items_in_lists_get_clean_paths() -> None:
    data = {"train": {"trainer": {"name": "T"}}, "validate": {"evaluator": {"name": "E"},
            "pre_transforms": [{"ref": "LoadImaged"}, {"name": "X", "bogus": 1}]}}
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate(data)
    assert [i.path for i in issues_from_validation(info.value, "c")] == ["validate.pre_transforms[1].bogus"]


def test_metrics_and_key_metric_are_exclusive() -> None:
    data = {"train": {"trainer": {"name": "T"}, "key_metric": {"name": "A"}, "metrics": [{"name": "B"}]}}
    with pytest.raises(ValidationError, match="either 'metrics'"):
        TrainConfig.model_validate(data)


def test_one_key_metric_only() -> None:
    data = {"train": {"trainer": {"name": "T"},
                      "metrics": [{"name": "A", "is_key_metric": True}, {"name": "B", "is_key_metric": True}]}}
    with pytest.raises(ValidationError, match="more than one"):
        TrainConfig.model_validate(data)


def test_booleans_are_strict() -> None:
    with pytest.raises(ValidationError):
        TrainConfig.model_validate(config(amp="yes"))


def test_validate_section_is_reachable_by_json_name() -> None:
    model = TrainConfig.model_validate({**MINIMAL, "validate": {"evaluator": {"name": "SupervisedEvaluator"}}})
    assert model.section("validate") is model.validation
    assert model.section("train") is model.train


def test_validate_section_has_no_model() -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate({**MINIMAL, "validate": {"evaluator": {"name": "E"}, "model": {"name": "UNet"}}})
    assert issues_from_validation(info.value, "c")[0].path == "validate.model"


def test_schema_lists_sections_and_seed_bounds() -> None:
    schema = TrainConfig.model_json_schema(by_alias=True)
    assert {"train", "validate", "determinism", "CLARA_TRAIN_VERSION"} <= set(schema["properties"])
    seed = schema["$defs"]["Determinism"]["properties"]["random_seed"]
    assert seed["minimum"] == 0 and seed["exclusiveMaximum"] == 2**32


def test_format_loc() -> None:
    assert format_loc(("train", "pre_transforms", 3, "component", "args")) == "train.pre_transforms[3].args"
    assert format_loc(("validate", "handlers", 0, "name")) == "validate.handlers[0].name"


def test_loading_a_legacy_config_imports_neither_monai_nor_torch() -> None:
    """The pure core stays pure: reading, substituting and aliasing a config is JSON work."""
    import subprocess
    import sys
    from pathlib import Path

    legacy = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_mmar"
    code = ("import sys; from runner.config.load import load_train_config; "
            f"load_train_config({str(legacy)!r}, overrides=['DATA_ROOT=/d', 'DATASET_JSON=/d/x.json']); "
            "print(sorted(m for m in ('monai', 'torch', 'ignite') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
