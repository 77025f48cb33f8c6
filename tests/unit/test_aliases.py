"""Each row of the legacy alias table, applied to a one-component config."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.kinds import TRAIN, VALIDATION
from runner.config.load import meaning_under
from runner.legacy.aliases import ARG_ALIASES, CLASS_ALIASES, NETWORKS_WITH_SPATIAL_DIMS, STILL_FOUND_BY_NAME, alias_table_rows
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


ARG_EXAMPLES = {  # (old, applies-to description) -> a class the row applies to
    "dimensions networks (UNet, BasicUNet, HighResNet, ...)": "BasicUnet",
    "dimensions deepgrow AddGuidanceFromPointsd": "AddGuidanceFromPointsd",
    "post_transform SupervisedTrainer, SupervisedEvaluator, EnsembleEvaluator": "SupervisedEvaluator",
    "ce_weight DiceCELoss (weight now weights the Dice part too)": "DiceCELoss",
    "focal_weight DiceFocalLoss (weight now weights the Dice part too)": "DiceFocalLoss",
    "as_tensor_output RandAffine(d), Affine(d), Rand2DElastic(d), Rand3DElastic(d), (Rand)GibbsNoise, (Rand)KSpaceSpikeNoise": "Rand3DElasticd",
    "batched deepgrow FindDiscrepancyRegionsd, AddRandomGuidanced, AddGuidanceSignald": "AddRandomGuidanced",
    "meta_keys Spacingd, Orientationd, RandCropByPosNegLabeld and other croppers": "RandCropByPosNegLabeld",
    "meta_key_postfix Spacingd, Orientationd, RandCropByPosNegLabeld and other croppers": "Spacingd",
    "center_coord_key RandWeightedCropd": "RandWeightedCropd",
    "device MeanDice, HausdorffDistance, SurfaceDistance, ROCAUC, ConfusionMatrix handlers": "MeanDice",
    "logger_handler StatsHandler, DataStats(d)": "StatsHandler",
    "epoch_interval TensorBoardStatsHandler": "TensorBoardStatsHandler",
    "iteration_interval TensorBoardStatsHandler": "TensorBoardStatsHandler",
    "n_classes TorchVisionFCModel, NetAdapter, ResNet": "ResNet",
    "ndim LocalNormalizedCrossCorrelationLoss": "LocalNormalizedCrossCorrelationLoss",
    "pos_embed UNETR, ViT, ViTAutoEnc": "UNETR",
    "img_size SwinUNETR": "SwinUNETR",
    "reduction ContrastiveLoss": "ContrastiveLoss",
    "dataset GridPatchDataset, PatchDataset": "GridPatchDataset",
    "save_batch SaveImage(d)": "SaveImaged",
    "num_workers Invertd": "Invertd",
}


@pytest.mark.parametrize("row", ARG_ALIASES, ids=lambda r: f"{r.old}:{r.describe}")
def test_every_argument_row_rewrites_its_argument(row) -> None:  # type: ignore[no-untyped-def]
    example = ARG_EXAMPLES[f"{row.old} {row.describe}"]
    assert row.applies_to(example)
    rewritten, uses, errors = rewrite_one({"name": example, "args": {row.old: 7}})
    expected = {row.new: 7} if row.new else {}
    assert rewritten.get("args", {}) == expected and errors == [] and uses == [f"train.model.args.{row.old}"]
    assert rewrite_one({"name": "MyOwnClass", "args": {row.old: 7}})[1] == [], "only the classes the row names"


CLASS_EXAMPLES = {  # old class -> (args as a 4.x config gives them, the rewritten component)
    "AddChanneld": ({"keys": "x"}, {"name": "EnsureChannelFirstd", "args": {"keys": "x", "channel_dim": "no_channel"}}),
    "AddChannel": ({}, {"name": "EnsureChannelFirst", "args": {"channel_dim": "no_channel"}}),
    "AsChannelFirstd": ({"keys": "x"}, {"name": "EnsureChannelFirstd", "args": {"keys": "x", "channel_dim": -1}}),
    "AsChannelFirst": ({"channel_dim": 2}, {"name": "EnsureChannelFirst", "args": {"channel_dim": 2}}),
    "LoadNiftid": ({"keys": "x"}, {"name": "LoadImaged", "args": {"keys": "x", "reader": "NibabelReader"}}),
    "LoadNifti": ({}, {"name": "LoadImage", "args": {"reader": "NibabelReader"}}),
    "LoadPNGd": ({"keys": "x"}, {"name": "LoadImaged", "args": {"keys": "x", "reader": "PILReader"}}),
    "LoadNumpyd": ({"keys": "x"}, {"name": "LoadImaged", "args": {"keys": "x", "reader": "NumpyReader"}}),
    "SplitChanneld": ({"keys": "x", "channel_dim": 1}, {"name": "SplitDimd", "args": {"keys": "x", "dim": 1, "keepdim": True}}),
    "SplitChannel": ({}, {"name": "SplitDim", "args": {"dim": 0, "keepdim": True}}),
    "TorchVisionFullyConvModel": ({"model_name": "resnet18", "n_classes": 1, "pretrained": False},
                                  {"name": "TorchVisionFCModel", "args": {"model_name": "resnet18", "pretrained": False, "num_classes": 1,
                                                                          "use_conv": True, "pool": ["avg", {"kernel_size": [7, 7], "stride": 1}]}}),
    "AddCoordinateChannelsd": ({"keys": "x", "spatial_channels": [1, 2]}, {"name": "AddCoordinateChannelsd", "args": {"keys": "x", "spatial_dims": [0, 1]}}),
    "AddCoordinateChannels": ({"spatial_channels": [1]}, {"name": "AddCoordinateChannels", "args": {"spatial_dims": [0]}}),
    "PatchWSIDataset": ({"region_size": 96, "grid_shape": 3, "patch_size": 32},
                        {"name": "PatchWSIDataset", "path": "runner.legacy.pathology.PatchWSIDataset",
                         "args": {"region_size": 96, "grid_shape": 3, "patch_size": 32}}),
    "SmartCachePatchWSIDataset": ({"region_size": 96}, {"name": "SmartCachePatchWSIDataset", "path": "runner.legacy.pathology.SmartCachePatchWSIDataset",
                                                         "args": {"region_size": 96}}),
}


@pytest.mark.parametrize("alias", CLASS_ALIASES, ids=lambda a: a.old)
def test_every_class_row_rewrites_its_class(alias) -> None:  # type: ignore[no-untyped-def]
    args, expected = CLASS_EXAMPLES[alias.old]
    rewritten, uses, errors = rewrite_one({"name": alias.old, "args": dict(args)} if args else {"name": alias.old})
    assert rewritten == expected and errors == [] and uses


def test_a_name_monai_reuses_is_left_alone_with_todays_arguments() -> None:
    today = {"name": "PatchWSIDataset", "args": {"patch_size": 32, "reader": "tifffile"}}
    assert rewrite_one(today) == (today, [], [])
    assert rewrite_one({"name": "AddCoordinateChannelsd", "args": {"keys": "x", "spatial_dims": [0]}})[1] == []


def test_a_removed_class_without_successor_is_an_error_naming_the_release() -> None:
    _, _, errors = rewrite_one({"name": "MaskedInferenceWSIDataset", "args": {}})
    assert errors == ["MaskedInferenceWSIDataset was removed in MONAI 1.2.0 and has no successor"]
    rewritten, uses, errors = rewrite_one({"name": "SplitOnGridd", "args": {"keys": "image", "grid_size": 2}})
    assert rewritten["path"] == "runner.legacy.successors.SplitOnGridd" and errors == [] and uses == ["train.model.name"]


def test_the_names_monai_still_finds_are_listed() -> None:
    """STILL_FOUND_BY_NAME is written out (config loading imports no MONAI); it must match today's lookup."""
    from runner.components.registry import SEARCH_MODULES, _module
    from runner.legacy.monai_names import REMOVED_NAMES

    found = {row.name for row in REMOVED_NAMES for module in SEARCH_MODULES if getattr(_module(module), row.name, None) is not None}
    assert found == STILL_FOUND_BY_NAME
