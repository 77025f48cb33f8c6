"""Each row of the legacy alias table, applied to a one-component config."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.kinds import TRAIN, VALIDATION
from runner.config.load import meaning_under
from runner.legacy.aliases import NETWORKS_WITH_SPATIAL_DIMS, alias_table_rows
from runner.legacy.config_rewrite import modern_output_transform, rewrite_config


def rewrite_one(spec: dict[str, Any], slot: str = "model") -> tuple[dict[str, Any], list[str], list[str]]:
    result = rewrite_config({"train": {slot: spec}}, TRAIN, "c.json")
    return result.config["train"][slot], [u.path for u in result.uses], [e.message for e in result.errors]


@pytest.mark.parametrize(("old", "new"), [
    ({"name": "AddChanneld", "args": {"keys": "image"}}, {"name": "EnsureChannelFirstd", "args": {"keys": "image", "channel_dim": "no_channel"}}),
    ({"name": "AsChannelFirstd", "args": {"keys": "image"}}, {"name": "EnsureChannelFirstd", "args": {"keys": "image", "channel_dim": -1}}),
    ({"name": "AsChannelFirstd", "args": {"keys": "x", "channel_dim": 1}}, {"name": "EnsureChannelFirstd", "args": {"keys": "x", "channel_dim": 1}}),
    ({"name": "LoadNiftid", "args": {"keys": "image"}}, {"name": "LoadImaged", "args": {"keys": "image", "reader": "NibabelReader"}}),
    ({"name": "LoadPNGd", "args": {"keys": "image"}}, {"name": "LoadImaged", "args": {"keys": "image", "reader": "PILReader"}}),
    ({"name": "SplitChanneld", "args": {"keys": "pred", "channel_dim": 1}}, {"name": "SplitDimd", "args": {"keys": "pred", "dim": 1, "keepdim": True}}),
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


@pytest.mark.parametrize(("spec", "kept"), [
    ({"name": "UNet", "args": {"dimensions": 3, "spatial_dims": 3}}, {"spatial_dims": 3}),
    ({"name": "UNet", "args": {"dimensions": "{dims}", "spatial_dims": 3}}, {"spatial_dims": 3}),
    ({"name": "SupervisedEvaluator", "args": {"post_transform": "@a", "postprocessing": "@a"}}, {"postprocessing": "@a"}),
    ({"name": "DiceCELoss", "args": {"ce_weight": None, "weight": None}}, {"weight": None}),
    ({"name": "DiceFocalLoss", "args": {"focal_weight": [1, 2], "weight": [1, 2]}}, {"weight": [1, 2]}),
    ({"name": "SplitChanneld", "args": {"keys": "p", "channel_dim": 1, "dim": 1}}, {"keys": "p", "dim": 1, "keepdim": True}),
    ({"name": "AsDiscreted", "args": {"keys": "p", "to_onehot": 2, "n_classes": 2}}, {"keys": "p", "to_onehot": 2}),
    ({"name": "AsDiscreted", "args": {"keys": "p", "to_onehot": "{classes}", "n_classes": 2}}, {"keys": "p", "to_onehot": "{classes}"}),
    ({"name": "AsDiscrete", "args": {"to_onehot": 3, "num_classes": 3, "n_classes": 3}}, {"to_onehot": 3}),
    ({"name": "AsDiscreted", "args": {"keys": "p", "threshold": 0.5, "threshold_values": True}}, {"keys": "p", "threshold": 0.5}),
    ({"name": "AsDiscreted", "args": {"keys": "p", "threshold": 0.3, "threshold_values": True, "logit_thresh": 0.3}},
     {"keys": "p", "threshold": 0.3}),
])
def test_legacy_argument_with_its_replacement_and_the_same_meaning_runs_with_one_warning(spec: dict[str, Any], kept: dict[str, Any]) -> None:
    """Real 4.1 configs give both (AsDiscreted to_onehot: 2 with n_classes: 2); MONAI 0.8 accepted that."""
    result = rewrite_config({"classes": 2, "dims": 3, "train": {"model": spec}}, TRAIN, "c.json", resolve=meaning_under({"classes": 2, "dims": 3}))
    assert result.errors == []
    assert result.config["train"]["model"]["args"] == kept
    agreeing = [u for u in result.uses if "they agree" in u.issue("c.json").message]
    assert agreeing and all(u.path.startswith("train.model.args.") for u in agreeing)
    assert all(u.issue("c.json").severity == "warning" for u in result.uses)


@pytest.mark.parametrize(("spec", "named"), [
    ({"name": "UNet", "args": {"dimensions": 2, "spatial_dims": 3}}, ("'dimensions' (2)", "'spatial_dims' (3)")),
    ({"name": "UNet", "args": {"dimensions": "{dims}", "spatial_dims": 2}}, ("'dimensions' ('{dims}')", "'spatial_dims' (2)")),
    ({"name": "SupervisedEvaluator", "args": {"post_transform": "@a", "postprocessing": "@b"}}, ("'post_transform'", "'postprocessing'")),
    ({"name": "DiceCELoss", "args": {"ce_weight": [1, 2], "weight": [2, 1]}}, ("'ce_weight'", "'weight'")),
    ({"name": "DiceFocalLoss", "args": {"focal_weight": [1], "weight": None}}, ("'focal_weight'", "'weight'")),
    ({"name": "SplitChanneld", "args": {"keys": "p", "channel_dim": 1, "dim": 0}}, ("'channel_dim' (1)", "'dim' (0)")),
    ({"name": "AsDiscreted", "args": {"to_onehot": 2, "n_classes": 3}}, ("'n_classes' (3)", "'to_onehot' (2)")),
    ({"name": "AsDiscreted", "args": {"to_onehot": 2, "num_classes": 3}}, ("'num_classes' (3)", "'to_onehot' (2)")),
    ({"name": "AsDiscreted", "args": {"n_classes": 2, "num_classes": 3}}, ("'n_classes' (2)", "'num_classes' (3)")),
    ({"name": "AsDiscreted", "args": {"threshold": 0.5, "threshold_values": True, "logit_thresh": 0.3}}, ("logit_thresh=0.3", "'threshold' (0.5)")),
    ({"name": "AsDiscreted", "args": {"threshold": 0.5, "threshold_values": False}}, ("threshold_values=False", "'threshold' (0.5)")),
])
def test_legacy_argument_with_its_replacement_and_another_meaning_is_an_error_naming_both(spec: dict[str, Any],
                                                                                           named: tuple[str, str]) -> None:
    result = rewrite_config({"train": {"model": spec}}, TRAIN, "c.json", resolve=meaning_under({"dims": 3}))
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.path == "train.model.args" and error.severity == "error"
    assert all(name in error.message for name in named), error.message


def test_legacy_arguments_that_did_nothing_are_dropped_with_a_warning() -> None:
    """n_classes without to_onehot=True, logit_thresh without threshold_values: inert in MONAI 0.8."""
    for args in ({"keys": "p", "argmax": True, "n_classes": 2}, {"keys": "p", "to_onehot": False, "n_classes": 2},
                 {"keys": "p", "argmax": True, "logit_thresh": 0.3}):
        result = rewrite_config({"train": {"model": {"name": "AsDiscreted", "args": dict(args)}}}, TRAIN, "c.json")
        assert result.errors == [] and len(result.uses) == 1
        kept = result.config["train"]["model"]["args"]
        assert "n_classes" not in kept and "logit_thresh" not in kept
        assert "ignored" in result.uses[0].issue("c.json").message


def test_the_network_list_matches_monai() -> None:
    """NETWORKS_WITH_SPATIAL_DIMS is written out so config loading imports no MONAI; it must match MONAI."""
    import inspect

    import monai.networks.nets as nets

    def takes_spatial_dims(name: str) -> bool:
        try:
            return "spatial_dims" in inspect.signature(getattr(nets, name)).parameters
        except (TypeError, ValueError):
            return False

    today = {n for n in dir(nets) if not n.startswith("_") and callable(getattr(nets, n)) and takes_spatial_dims(n)}
    assert today == NETWORKS_WITH_SPATIAL_DIMS


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
    assert result.config["post_transforms"][2]["args"] == {"keys": "pred_inv", "output_dir": "{OUT}", "resample": False,
                                                           "output_postfix": "seg", "mode": "nearest"}, "SegmentationSaver's own defaults"
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
