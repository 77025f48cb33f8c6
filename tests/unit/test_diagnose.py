"""A failure's root cause traced to the config setting behind it (issue 19 item 3), on messages MONAI and torch raise."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.vars import split_config_path, variable_at
from runner.workflow.diagnose import ConfigTrace, failure_line
from runner.workflow.verify import run_error

CROP = ("The size of the proposed random crop ROI is larger than the image size, got ROI size (96, 96, 96) and label "
        "image size (54, 54, 48) respectively.")
RAW = {"patch_size": [96, 96, 96], "train": {
    "model": {"name": "UNet", "args": {"in_channels": "{in_channels}", "out_channels": 2}},
    "pre_transforms": [{"name": "LoadImaged", "args": {"keys": "image"}},
                       {"name": "RandCropByPosNegLabeld", "args": {"spatial_size": "{patch_size}"}}]}}
RESOLVED = {"patch_size": [96, 96, 96], "train": {
    "model": {"name": "UNet", "args": {"in_channels": 2, "out_channels": 2}},
    "pre_transforms": [{"name": "LoadImaged", "args": {"keys": "image"}},
                       {"name": "RandCropByPosNegLabeld", "args": {"spatial_size": [96, 96, 96]}}]}}
TRACE = ConfigTrace("config/config_train.json", "training", RAW, RESOLVED)


def in_transform(name: str, inner: Exception) -> Exception:
    """What MONAI's Compose raises: its own RuntimeError naming the transform object, from the real error.

    Never raised here, so no frame of this file counts as the user's code.
    """
    outer = RuntimeError(f"applying transform <monai.transforms.croppad.dictionary.{name} object at 0x7f00>")
    outer.__cause__ = inner
    return outer


def test_paths_and_the_variable_behind_a_value() -> None:
    assert split_config_path("train.pre_transforms[1].args.spatial_size") == ["train", "pre_transforms", 1, "args", "spatial_size"]
    assert variable_at(RAW, "train.pre_transforms[1].args.spatial_size") == "patch_size"
    assert variable_at(RAW, "train.model.args.out_channels") is None, "a literal has no variable"
    assert variable_at(RAW, "train.pre_transforms[7].args") is None


def test_a_crop_larger_than_the_image_names_its_variable() -> None:
    line, diagnosis = failure_line(in_transform("RandCropByPosNegLabeld", ValueError(CROP)), TRACE, "ds.json: training[1] (a.nii)")
    assert diagnosis is not None
    assert line == (f"training failed in RandCropByPosNegLabeld on ds.json: training[1] (a.nii): ValueError: {CROP} — the crop "
                    "(patch_size = [96, 96, 96]) is larger than the image [54, 54, 48] that reaches RandCropByPosNegLabeld; "
                    "lower patch_size (--set patch_size=[54,54,48]) or pad the image to it first (SpatialPadd with spatial_size "
                    "[96, 96, 96])")
    assert "0x" not in line


@pytest.mark.parametrize(("message", "expected"), [
    ("Given groups=1, weight of size [4, 2, 3, 3, 3], expected input[4, 1, 32, 32, 32] to have 2 channels, but got 1 channels "
     "instead", "the network takes 2 input channel(s) (in_channels = 2) but the images have 1; --set in_channels=1"),
    ("index 2 is out of bounds for dimension 1 with size 2",
     "a label holds the value 2 but the network predicts 2 classes (train.model.args.out_channels = 2); "
     "set train.model.args.out_channels to 3 in the config"),
])
def test_model_errors_name_the_model_setting(message: str, expected: str) -> None:
    line, diagnosis = failure_line(RuntimeError(message), TRACE)
    assert diagnosis is not None and line.startswith(f"training failed: RuntimeError: {message} — {expected}"), line


def test_a_deeper_layer_or_an_unknown_error_is_not_pinned_on_the_config() -> None:
    deeper = "Given groups=1, weight of size [8, 4, 3, 3, 3], expected input[4, 3, 16, 16, 16] to have 4 channels, but got 3"
    for error in (RuntimeError(deeper), KeyError("image"), in_transform("Spacingd", ValueError(CROP.replace("ROI", "box")))):
        line, diagnosis = failure_line(error, TRACE)
        assert diagnosis is None and " — " not in line, line
    assert failure_line(KeyError("image"), None)[0] == "training failed: KeyError: 'image'"


def test_an_empty_label_on_a_dark_image_names_the_threshold() -> None:
    trace = ConfigTrace("c.json", "training", RAW, {"train": {"pre_transforms": [
        {"name": "RandCropByPosNegLabeld", "args": {"spatial_size": [16, 16, 16], "image_threshold": 0}}]}})
    line, diagnosis = failure_line(in_transform("RandCropByPosNegLabeld", ValueError("No sampling location available.")), trace,
                                   "ds.json: training[3] (c.nii)")
    assert diagnosis is not None and line.startswith("training failed in RandCropByPosNegLabeld on ds.json: training[3] (c.nii): "), line
    assert "its label is empty (no foreground) and no image voxel is above train.pre_transforms[0].args.image_threshold = 0" in line


def test_a_crop_without_its_transform_in_the_config_still_says_what_to_lower() -> None:
    line, _ = failure_line(in_transform("RandCropByLabelClassesd", ValueError(CROP)), TRACE)
    assert line.endswith("the crop [96, 96, 96] is larger than the image [54, 54, 48]; lower the crop's spatial_size to at "
                         "most [54,54,48], or pad the image first (SpatialPadd)"), line


@pytest.mark.parametrize(("stderr", "expected"), [
    ("amp requested\nerror: training failed: ValueError: x; -v shows the traceback\n",
     "training failed: ValueError: x; -v shows the traceback"),
    ("log\nerror: ds.json: training[2] (a.nii): LoadImaged: E: cut\n  hint: fix or remove that entry\n",
     "ds.json: training[2] (a.nii): LoadImaged: E: cut; hint: fix or remove that entry"),
    ("a\nb\nterminate called without an active exception\n", "\na\nb\nterminate called without an active exception"),
])
def test_verify_reports_a_runs_own_error_not_its_last_lines(stderr: str, expected: Any) -> None:
    assert run_error(stderr) == expected
