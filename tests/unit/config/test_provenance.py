"""Which {variable} produced a config value: the knob a message should name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.config.load import load_train_config
from runner.config.provenance import VariableOrigin, variables_behind, variables_in
from runner.config.vars import value_at

MINIMAL = Path(__file__).resolve().parents[3] / "docs" / "examples" / "minimal" / "config" / "config_train.json"
CROP = "train.pre_transforms[1].args.spatial_size"


def write_mmar(root: Path, environment: dict[str, Any]) -> Path:
    config = json.loads(MINIMAL.read_text())
    config.update({"patch_size": "{roi}", "roi": [96, 96, 96], "samples": 2})
    config["train"]["pre_transforms"].append({"name": "RandSpatialCropd", "args": {
        "keys": ["image"], "roi_size": [8, 8, 8], "spatial_size": "{patch_size}", "note": "n{samples}x{samples}"}})
    (root / "config").mkdir(parents=True)
    (root / "config" / "config_train.json").write_text(json.dumps(config))
    (root / "config" / "environment.json").write_text(json.dumps({"DATA_ROOT": "d", "DATASET_JSON": "d/x.json", **environment}))
    return root


def test_value_at_follows_keys_and_indexes() -> None:
    document = {"train": {"pre_transforms": [{"args": {}}, {"args": {"spatial_size": "{patch_size}"}}]}}
    assert value_at(document, CROP) == (True, "{patch_size}")
    assert value_at(document, "train.pre_transforms[7].args") == (False, None)
    assert value_at(document, "train.pre_transforms.args") == (False, None)


def test_variables_in_finds_names_in_nested_values_once_and_not_in_lambdas() -> None:
    assert variables_in(["{a}", {"x": "p{b}/{a}"}, 3]) == ["a", "b"]
    assert variables_in("lambda x: '{a}'") == []
    assert variables_in([1, 2]) == []


def test_a_variable_is_followed_through_an_alias_to_where_it_is_set(tmp_path: Path) -> None:
    loaded = load_train_config(write_mmar(tmp_path / "m", {"roi": [64, 64, 64]}), strict=False)
    assert loaded.model.train.pre_transforms[1].args["spatial_size"] == [64, 64, 64], "the value substitution gave"
    assert variables_behind(loaded, CROP) == [VariableOrigin("patch_size", "config/config_train.json"),
                                              VariableOrigin("roi", "config/environment.json")]
    assert variables_behind(loaded, "train.pre_transforms[1].args.roi_size") == [], "written literally"
    assert [o.name for o in variables_behind(loaded, "train.pre_transforms[1].args.note")] == ["samples"]


def test_set_wins_and_is_named(tmp_path: Path) -> None:
    loaded = load_train_config(write_mmar(tmp_path / "m", {}), overrides=["patch_size=[32,32,32]"], strict=False)
    assert variables_behind(loaded, CROP) == [VariableOrigin("patch_size", "--set")]
    assert str(variables_behind(loaded, CROP)[0]) == "patch_size (--set)"
