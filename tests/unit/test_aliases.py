"""Each row of the legacy alias table, applied to a one-component config."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.kinds import TRAIN, VALIDATION
from runner.legacy.aliases import alias_table_rows, modern_output_transform, rewrite_config


def rewrite_one(spec: dict[str, Any], slot: str = "model") -> tuple[dict[str, Any], list[str], list[str]]:
    result = rewrite_config({"train": {slot: spec}}, TRAIN, "c.json")
    return result.config["train"][slot], [u.path for u in result.uses], [e.message for e in result.errors]


@pytest.mark.parametrize(("old", "new"), [
    ({"name": "AddChanneld", "args": {"keys": "image"}}, {"name": "EnsureChannelFirstd", "args": {"keys": "image", "channel_dim": "no_channel"}}),
    ({"name": "AsChannelFirstd", "args": {"keys": "image"}}, {"name": "EnsureChannelFirstd", "args": {"keys": "image", "channel_dim": -1}}),
    ({"name": "AsChannelFirstd", "args": {"keys": "x", "channel_dim": 1}}, {"name": "EnsureChannelFirstd", "args": {"keys": "x", "channel_dim": 1}}),
    ({"name": "LoadNiftid", "args": {"keys": "image"}}, {"name": "LoadImaged", "args": {"keys": "image", "reader": "NibabelReader"}}),
    ({"name": "LoadPNGd", "args": {"keys": "image"}}, {"name": "LoadImaged", "args": {"keys": "image", "reader": "PILReader"}}),
    ({"name": "SplitChanneld", "args": {"keys": "pred", "channel_dim": 1}}, {"name": "SplitDimd", "args": {"keys": "pred", "dim": 1}}),
    ({"name": "UNet", "args": {"dimensions": 3}}, {"name": "UNet", "args": {"spatial_dims": 3}}),
    ({"name": "BasicUNet", "args": {"dimensions": "{dims}"}}, {"name": "BasicUNet", "args": {"spatial_dims": "{dims}"}}),
    ({"path": "monai.networks.nets.HighResNet", "args": {"dimensions": 2}}, {"path": "monai.networks.nets.HighResNet", "args": {"spatial_dims": 2}}),
    ({"name": "SupervisedTrainer", "args": {"post_transform": "@post"}}, {"name": "SupervisedTrainer", "args": {"postprocessing": "@post"}}),
    ({"name": "DiceCELoss", "args": {"ce_weight": None}}, {"name": "DiceCELoss", "args": {"weight": None}}),
    ({"name": "DiceFocalLoss", "args": {"focal_weight": [1, 2]}}, {"name": "DiceFocalLoss", "args": {"weight": [1, 2]}}),
    ({"name": "RandAffined", "args": {"keys": "x", "as_tensor_output": False}}, {"name": "RandAffined", "args": {"keys": "x"}}),
    ({"name": "AsDiscreted", "args": {"keys": "p", "to_onehot": True, "n_classes": 3}}, {"name": "AsDiscreted", "args": {"keys": "p", "to_onehot": 3}}),
    ({"name": "AsDiscrete", "args": {"to_onehot": True, "num_classes": "{k}"}}, {"name": "AsDiscrete", "args": {"to_onehot": "{k}"}}),
    ({"name": "AsDiscreted", "args": {"keys": "p", "threshold_values": True, "logit_thresh": 0.3}}, {"name": "AsDiscreted", "args": {"keys": "p", "threshold": 0.3}}),
    ({"name": "StatsHandler", "args": {"output_transform": "lambda x: x['loss']"}},
     {"name": "StatsHandler", "args": {"output_transform": "#monai.handlers.from_engine(['loss'], first=True)"}}),
])
def test_each_alias_row(old: dict[str, Any], new: dict[str, Any]) -> None:
    rewritten, uses, errors = rewrite_one(old)
    assert rewritten == new and errors == []
    assert len(uses) >= 1 and all(u.startswith("train.model") for u in uses)


def test_modern_names_are_left_alone() -> None:
    spec = {"name": "UNet", "args": {"spatial_dims": 3, "channels": [4, 8]}}
    assert rewrite_one(spec) == (spec, [], [])
    assert rewrite_one({"name": "RandAffined", "args": {"keys": "x"}})[1] == []
    assert rewrite_one({"path": "my_nets.UNet", "args": {"dimensions": 3}})[1] == [], "custom classes keep their own arguments"


@pytest.mark.parametrize(("spec", "old"), [
    ({"name": "UNet", "args": {"dimensions": 3, "spatial_dims": 3}}, "dimensions"),
    ({"name": "SupervisedEvaluator", "args": {"post_transform": "@a", "postprocessing": "@a"}}, "post_transform"),
    ({"name": "AsDiscreted", "args": {"to_onehot": 2, "n_classes": 2}}, "n_classes"),
    ({"name": "AsDiscreted", "args": {"threshold": 0.5, "logit_thresh": 0.5}}, "logit_thresh"),
])
def test_old_and_new_together_is_an_error(spec: dict[str, Any], old: str) -> None:
    _, _, errors = rewrite_one(spec)
    assert len(errors) == 1 and f"'{old}'" in errors[0]


def test_removed_handlers_become_post_transforms_of_their_section() -> None:
    config = {"model": {"ckpt_path": "m.pt"}, "evaluator": {"name": "SupervisedEvaluator"}, "handlers": [
        {"name": "StatsHandler"},
        {"name": "TransformInverter", "args": {"transform": "@pre_transforms", "output_keys": "pred", "batch_keys": "image", "postfix": "inv"}},
        {"name": "SegmentationSaver", "args": {"output_dir": "{OUT}", "output_transform": "lambda x: x['pred_inv']", "resample": False}},
    ]}
    result = rewrite_config(config, VALIDATION, "v.json")
    assert result.config["handlers"] == [{"name": "StatsHandler"}]
    assert [t["name"] for t in result.config["post_transforms"]] == ["CopyItemsd", "Invertd", "SaveImaged"]
    assert result.config["post_transforms"][1]["args"]["keys"] == ["pred_inv"]
    assert result.config["post_transforms"][2]["args"] == {"keys": "pred_inv", "output_dir": "{OUT}", "resample": False}
    assert [u.path for u in result.uses] == ["handlers[1]", "handlers[2]"]
    assert config["handlers"][1]["name"] == "TransformInverter", "the input is not modified"


def test_refs_follow_renamed_classes() -> None:
    config = {"train": {"pre_transforms": [{"name": "AddChanneld", "args": {"keys": "x"}}], "trainer": {"name": "SupervisedTrainer"}},
              "validate": {"pre_transforms": [{"ref": "AddChanneld"}], "evaluator": {"name": "SupervisedEvaluator"}}}
    result = rewrite_config(config, TRAIN, "c.json")
    assert result.config["validate"]["pre_transforms"] == [{"ref": "EnsureChannelFirstd"}]


def test_batched_lambdas() -> None:
    assert modern_output_transform("lambda x: (x['pred'], x['label'])") == "#monai.handlers.from_engine(['pred', 'label'])"
    assert modern_output_transform('lambda out: out["loss"]') == "#monai.handlers.from_engine(['loss'], first=True)"
    assert modern_output_transform("lambda x: x[0]['loss']") is None, "already written for decollated output"


def test_the_table_has_at_least_fifteen_rows() -> None:
    assert len(alias_table_rows()) >= 15


def test_every_row_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "MIGRATING.md").read_text()
    missing = [old for old, *_ in alias_table_rows() if f"`{old}`" not in doc]
    assert missing == [], f"docs/MIGRATING.md lacks {missing}"
