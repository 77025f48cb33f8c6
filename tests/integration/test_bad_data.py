"""Bad data says which case, and every failure is a clear one (issue 15, items 6-10)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from tests.cli_helpers import invoke
from tests.conftest import DEMO_BUNDLE, REPO, TINY_SET, run_cli
from tests.integration.test_bad_input import assert_bad_input

pytestmark = pytest.mark.slow
CONFIG = "config/config_train.json"


@pytest.fixture()
def data(tmp_path: Path, synthetic_data: Path) -> Path:
    """A private copy of the session's data set, free to damage."""
    copy = tmp_path / "data"
    shutil.copytree(synthetic_data, copy)
    return copy


def datalist(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "dataset.json").read_text())


def entry_file(folder: Path, key: str, index: int, field: str) -> Path:
    return folder / datalist(folder)[key][index][field]


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def mmar_on(make_mmar: Callable[..., Path], folder: Path, edit: Callable[[dict[str, Any]], None] | None = None,
            **extra: Any) -> Path:
    return make_mmar(environment={"DATA_ROOT": str(folder), "DATASET_JSON": str(folder / "dataset.json")}, edit=edit, **extra)


# ---- 6. mmar check reads the datalist and, with --data, the data -------------------------------
def test_check_finds_missing_files_in_list_valued_entries(make_mmar: Callable[..., Path], data: Path) -> None:
    listing = datalist(data)
    listing["training"][1]["image"] = [listing["training"][1]["image"], "imagesTr/second_modality.nii.gz"]
    (data / "dataset.json").write_text(json.dumps(listing))
    assert_bad_input(invoke("check", str(mmar_on(make_mmar, data))),
                     f"1 file(s) not found: training[1].image[1]: {data}/imagesTr/second_modality.nii.gz")


def test_check_data_reports_every_bad_case_at_once(make_mmar: Callable[..., Path], data: Path) -> None:
    root = mmar_on(make_mmar, data, fits_the_data)
    assert invoke("check", str(root), "--data").exit_code == 0, "the good data set passes"
    cut_short(entry_file(data, "training", 1, "image"))
    label = entry_file(data, "training", 2, "label")
    values = np.asanyarray(nib.load(label).dataobj).copy()
    values[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(values, nib.load(label).affine), label)
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.uint8), np.eye(4)), entry_file(data, "validation", 0, "label"))
    assert invoke("check", str(root)).exit_code == 0, "without --data the files are not opened"
    result = invoke("check", str(root), "--data")
    text = assert_bad_input(result, "3 problems found",
                            f"dataset.json: training[1]: {entry_file(data, 'training', 1, 'image')}: cut short or damaged",
                            f"training[2]: {label}: label values 7 are outside the 2 classes the network predicts (0..1)",
                            "validation[0]: ", "label shape [8, 8, 8] differs from the image's [40, 40, 32]")
    assert "data: training: headers of 7 of 8 files, label values of 4 of 4 cases" in text
    assert "data: pre-transforms: training[0] and validation[1] ran once (the first good case of each)" in text


def fits_the_data(config: dict[str, Any]) -> None:
    """The demo bundle's 96-voxel patches are larger than the synthetic 40x40x32 images."""
    config["patch_size"] = [32, 32, 32]


# ---- issue 19 item 2: --data runs the first case of each dataset through its pre-transforms ---------
CROP = f"{CONFIG}: train.pre_transforms[5].args.spatial_size: "
CROP_TOO_LARGE = "fails in RandCropByPosNegLabeld: ValueError: The size of the proposed random crop ROI is larger than the image size"


def test_check_data_names_the_variable_behind_a_crop_larger_than_the_image(make_mmar: Callable[..., Path], data: Path) -> None:
    root = mmar_on(make_mmar, data)  # patch_size [96, 96, 96]; the image is [34, 34, 32] after CropForegroundd
    assert invoke("check", str(root)).exit_code == 0, "headers alone cannot tell"
    text = assert_bad_input(invoke("check", str(root), "--data"), "1 problem found",
                            f"{CROP}{data}/dataset.json: training[0] ({data}/imagesTr/spleen_000.nii.gz) {CROP_TOO_LARGE}",
                            f"hint: spatial_size [96, 96, 96] comes from the variable patch_size ({CONFIG}); the image is "
                            "[34, 34, 32] when RandCropByPosNegLabeld gets it: e.g. --set patch_size=[34,34,32]")
    assert "pre-transforms: training[0] and validation[0] ran once" in text, "validation has no crop: it ran and passed"
    assert_bad_input(invoke("check", str(root), "--data", "--set", "patch_size=[48,8,8]"),
                     CROP, "spatial_size [48, 8, 8] comes from the variable patch_size (--set)", "--set patch_size=[34,8,8]")


def test_check_data_warns_of_a_crop_that_leaves_axes_uncropped(make_mmar: Callable[..., Path], data: Path) -> None:
    """RandSpatialCropd without random_size does not fail on a small image: it crops less, so sizes vary."""
    def edit(config: dict[str, Any]) -> None:
        config["train"]["pre_transforms"][5] = {"name": "RandSpatialCropd", "args": {
            "keys": ["image", "label"], "roi_size": "{patch_size}", "random_size": False}}

    result = invoke("check", str(mmar_on(make_mmar, data, edit)), "--data")
    assert result.exit_code == 0, result.stderr
    assert (f"warning: {CONFIG}: train.pre_transforms[5].args.roi_size: {data}/dataset.json: training[0] "
            f"({data}/imagesTr/spleen_000.nii.gz): RandSpatialCropd was asked for roi_size [96, 96, 96] and the image is "
            "[34, 34, 32] after it") in result.stderr
    assert "roi_size [96, 96, 96] comes from the variable patch_size (config/config_train.json): e.g. --set " \
           "patch_size=[34,34,32]" in result.stderr


NUMPY_CLIP = '''import numpy as np


class NumpyClip:
    """Written for MONAI 0.8, when the data was numpy: np.asarray drops a MetaTensor's metadata today."""

    def __init__(self, keys):
        self.keys = keys

    def __call__(self, data):
        d = dict(data)
        for key in self.keys:
            d[key] = np.clip(np.asarray(d[key]), -1000, 1000)
        return d
'''


@pytest.mark.parametrize("legacy", [True, False])
def test_check_data_names_the_transform_that_drops_the_metadata(make_mmar: Callable[..., Path], data: Path,
                                                                 legacy: bool) -> None:
    def edit(config: dict[str, Any]) -> None:
        fits_the_data(config)
        config["legacy_custom_transforms"] = legacy
        config["train"]["pre_transforms"].insert(3, {"path": "numpy_clip.NumpyClip", "args": {"keys": ["image", "label"]}})

    result = invoke("check", str(mmar_on(make_mmar, data, edit, custom={"numpy_clip.py": NUMPY_CLIP})), "--data")
    if legacy:  # runner.legacy.transform_arrays gives it numpy and makes its result a MetaTensor again
        assert result.exit_code == 0, result.stderr
        return
    assert_bad_input(result, "1 problem found",
                     f"{CONFIG}: train.pre_transforms[3]: {data}/dataset.json: training[0] ({data}/imagesTr/spleen_000.nii.gz): "
                     "NumpyClip returns image as a numpy.ndarray, label as a numpy.ndarray where it got a MetaTensor",
                     'hint: return a MetaTensor', '"legacy_custom_transforms": true gives it numpy')


def test_check_data_reports_image_and_label_shapes_that_differ_after_resampling(make_mmar: Callable[..., Path],
                                                                                 data: Path) -> None:
    label = entry_file(data, "training", 0, "label")
    values = np.asanyarray(nib.load(label).dataobj)
    nib.save(nib.Nifti1Image(values, np.diag([3.0, 3.0, 4.0, 1.0])), label)  # same voxels, twice the spacing
    root = mmar_on(make_mmar, data, fits_the_data)
    assert_bad_input(invoke("check", str(root), "--data"), "1 problem found",
                     f"{CONFIG}: train.pre_transforms[2]: {data}/dataset.json: training[0] ({data}/imagesTr/spleen_000.nii.gz): "
                     "after Spacingd the image's spatial shape is [40, 40, 32] and the label's [79, 79, 63]",
                     "the two files differ in voxel spacing or orientation")


def test_check_data_passes_a_good_mmar_writes_nothing_and_keeps_the_random_state(make_mmar: Callable[..., Path],
                                                                                  data: Path, tmp_path: Path) -> None:
    import random

    import torch

    def edit(config: dict[str, Any]) -> None:
        fits_the_data(config)
        for section in ("train", "validate"):
            config[section]["dataset"]["name"] = "PersistentDataset"
            config[section]["dataset"]["args"] = {"transform": "@pre_transforms"}

    out = tmp_path / "out"
    root = mmar_on(make_mmar, data, edit, name="persistent")
    before = sorted(p for p in tmp_path.rglob("*"))
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    result = invoke("check", str(root), "--data", "--set", f"MMAR_CKPT_DIR={out}")
    assert result.exit_code == 0, result.stderr
    assert "data: pre-transforms: training[0] and validation[0] ran once (the first good case of each)" in result.stderr
    assert not out.exists(), "check made the output folder (or the dataset's cache in it)"
    assert sorted(p for p in tmp_path.rglob("*")) == before, "check wrote a file"
    assert random.getstate() == states[0] and (np.random.get_state()[1] == states[1]).all()
    assert torch.equal(torch.get_rng_state(), states[2]), "check moved torch's global random state"


@pytest.mark.parametrize("where", ["config", "datalist"])
def test_nan_in_a_json_file_is_refused_with_its_path_and_line(make_mmar: Callable[..., Path], data: Path, where: str) -> None:
    if where == "config":
        root = mmar_on(make_mmar, data)
        config_file = root / "config" / "config_train.json"
        config_file.write_text(config_file.read_text().replace('"learning_rate": 0.0002', '"learning_rate": NaN'))
        assert_bad_input(invoke("check", str(root)), f"{CONFIG}: learning_rate: NaN (line 5) is not a JSON number")
    else:
        text = (data / "dataset.json").read_text()
        (data / "dataset.json").write_text(text.replace('"training": [', '"training": [Infinity, ', 1))
        line = next(i for i, row in enumerate((data / "dataset.json").read_text().splitlines(), 1) if "Infinity" in row)
        assert_bad_input(invoke("check", str(mmar_on(make_mmar, data))), f"training[0]: Infinity (line {line}) is not a JSON number")


# ---- 7. a case that fails in training names its entry -------------------------------------------
@pytest.mark.parametrize(("dataset", "workers"), [("CacheDataset", 0), ("Dataset", 0), ("Dataset", 2)])
def test_a_case_that_fails_to_load_names_its_datalist_entry(make_mmar: Callable[..., Path], data: Path, tmp_path: Path,
                                                          dataset: str, workers: int) -> None:
    def edit(config: dict[str, Any]) -> None:
        for section in ("train", "validate"):
            config[section]["dataset"]["name"] = dataset
            config[section]["dataset"]["args"] = {"transform": "@pre_transforms"} if dataset == "Dataset" else \
                config[section]["dataset"]["args"]

    root = mmar_on(make_mmar, data, edit)
    broken = entry_file(data, "training", 2, "image")
    cut_short(broken)
    out = tmp_path / "out"
    done = run_cli("train", str(root), "--no-progress", "--set", *TINY_SET, f"num_workers={workers}", f"MMAR_CKPT_DIR={out}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"error: {data}/dataset.json: training[2] ({broken}): LoadImaged: " in done.stderr, done.stderr[-3000:]
    assert "applying transform" not in done.stderr and "Traceback" not in done.stderr
    assert not out.exists(), "a run stopped by bad data left files behind"


# ---- 8. every problem in one pass ---------------------------------------------------------------
def test_a_bad_seed_does_not_hide_the_other_problems(make_mmar: Callable[..., Path]) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["determinism"] = {"random_seed": -1}
        config["epochs"] = "many"
        config["train"]["model"]["name"] = "UNett"
        config["train"]["loss"]["args"]["bogus"] = 1
        config["train"]["dataset"]["data_list_key"] = "trainingg"

    root = make_mmar(edit=edit)
    for command in ("check", "train"):
        assert_bad_input(invoke(command, str(root)), "5 problems found",
                         f"{CONFIG}: epochs: expected an integer, got 'many'",
                         f"{CONFIG}: determinism.random_seed: the seed must be an integer in [0, 2**32), got -1",
                         f"{CONFIG}: train.model.name: unknown component name 'UNett'",
                         f"{CONFIG}: train.loss.args.bogus: DiceLoss does not accept argument 'bogus'",
                         f"{CONFIG}: train.dataset.data_list_key: ")


# ---- 9. distributed runs --------------------------------------------------------------------------
FAILS_ON_RANK_1 = '''import os
from ignite.engine import Events


class FailsOnRank1:
    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), self)

    def __call__(self, engine):
        if os.environ.get("RANK") == "1":
            raise ValueError("rank 1 broke")
'''


def test_a_failing_worker_is_one_line_and_its_exit_code(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"path": "fails.FailsOnRank1"})

    root = make_mmar(edit=edit, custom={"fails.py": FAILS_ON_RANK_1})
    done = run_cli("train", str(root), "--nproc", "2", "--no-progress", "--set", *TINY_SET, "epochs=3",
                   f"MMAR_CKPT_DIR={tmp_path / 'out'}")
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: rank 1: training failed ({root}/custom/fails.py, line 11): ValueError: rank 1 broke"
                      "; -v shows the traceback"], done.stderr
    for noise in ("ChildFailedError", "Traceback", "torch/distributed/elastic", "Connection closed by peer", "SIGTERM"):
        assert noise not in done.stderr, noise


def test_fewer_validation_cases_than_processes_is_bad_input(make_mmar: Callable[..., Path], data: Path, tmp_path: Path) -> None:
    listing = datalist(data)
    listing["validation"] = listing["validation"][:1]
    (data / "dataset.json").write_text(json.dumps(listing))
    out = tmp_path / "out"
    done = run_cli("train", str(mmar_on(make_mmar, data)), "--nproc", "2", "--no-progress", "--set", *TINY_SET,
                   f"MMAR_CKPT_DIR={out}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "validate.dataset: 1 case(s) for 2 processes" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


# ---- 10. every failure is a clear one -----------------------------------------------------------
def test_verify_exits_2_on_bad_input_and_leaves_no_folder(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["model"]["name"] = "UNett"

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    root = make_mmar(edit=edit)
    done = run_cli("verify", str(root), "--set", *TINY_SET, env={"TMPDIR": str(scratch)})
    assert done.returncode == 2 and "unknown component name 'UNett'" in done.stderr, done.stderr[-2000:]
    assert not list(scratch.iterdir()), "verify left a folder behind"


def test_verify_exits_2_when_a_run_refuses_its_input_and_cleans_up(make_mmar: Callable[..., Path], data: Path,
                                                                  tmp_path: Path) -> None:
    """Bad data only a run meets (the check passes): exit 2 from the run, and the temporary folder goes."""
    cut_short(entry_file(data, "training", 0, "image"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = run_cli("verify", str(mmar_on(make_mmar, data)), "--set", *TINY_SET, env={"TMPDIR": str(scratch)})
    assert done.returncode == 2 and "run 1 of mmar verify refused its input" in done.stderr, done.stderr[-2000:]
    assert "training[0]" in done.stderr and not list(scratch.iterdir())


@pytest.mark.parametrize(("content", "message"), [
    ("[1]", "not a run manifest"),
    ('{"manifest_version": 1, "weights_digest": 5}', "weights_digest: expected a digest string, got int"),
    ('{"manifest_version": 1, "tensor_digests": [1]}', "tensor_digests: expected an object, got list"),
])
def test_diff_exits_2_on_a_malformed_manifest(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "run_manifest.json"
    bad.write_text(content)
    assert_bad_input(invoke("diff", str(bad), str(bad)), message)
    assert_bad_input(invoke("diff", str(tmp_path / "missing.json"), str(bad)), "run manifest not found")


def test_deep_nesting_is_bad_input_not_a_recursion_error(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config='{"train": ' + "[" * 10_000 + "]" * 10_000 + "}")
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: nested deeper than 64 levels")
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    root = make_mmar(config=json.dumps({"epochs": 1, "x": deep}), name="deep2")
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: x[0][0]", "nested deeper than 64 levels")


def test_a_duplicate_key_names_its_path_and_line(make_mmar: Callable[..., Path]) -> None:
    text = (DEMO_BUNDLE / "config" / "config_train.json").read_text()
    doubled = text.replace('"to_onehot_y": true,', '"to_onehot_y": true, "softmax": false,', 1)
    assert doubled != text
    root = make_mmar(config=doubled)
    line = next(i for i, row in enumerate(doubled.splitlines(), 1) if '"softmax": false' in row)
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: train.loss.args.softmax: duplicate key 'softmax' (line {line})")


def test_zero_epochs_and_a_list_as_output_folder_are_caught_by_check(make_mmar: Callable[..., Path], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_mmar()
    assert_bad_input(invoke("check", str(root), "--set", "epochs=0"), "epochs")

    def edit(config: dict[str, Any]) -> None:
        config["train"]["trainer"]["args"]["max_epochs"] = 0

    zero = make_mmar(edit=edit, name="zero")
    assert_bad_input(invoke("check", str(zero)), f"{CONFIG}: train.trainer.args.max_epochs: max_epochs must be at least 1, got 0")
    monkeypatch.chdir(tmp_path)
    assert_bad_input(invoke("check", str(root), "--set", 'MMAR_CKPT_DIR=["a","b"]'),
                     "--set: MMAR_CKPT_DIR: MMAR_CKPT_DIR is a path and must be text, got list ['a', 'b']")
    assert not list(tmp_path.glob("*a*b*")) and not list((root).glob("*a*b*")), "a folder was named after the list"


NAN_LOSS = '''import torch


class NaNLoss(torch.nn.Module):
    def forward(self, prediction, label):
        return (prediction * 0).sum() + float("nan")
'''


def test_train_stats_never_hold_nan(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["loss"] = {"path": "nanloss.NaNLoss"}

    root = make_mmar(edit=edit, custom={"nanloss.py": NAN_LOSS})
    out = tmp_path / "out"
    done = run_cli("train", str(root), "--no-progress", "--set", *TINY_SET, f"MMAR_CKPT_DIR={out}")
    assert done.returncode == 0, done.stderr[-2000:]
    text = (out / "train_stats.json").read_text()
    stats = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in train_stats.json"))
    assert stats["train_loss_per_epoch"] == [None, None]
    assert stats["train_loss_notes"] == ["epoch 1: the loss was not a finite number", "epoch 2: the loss was not a finite number"]
    json.loads((out / "run_manifest.json").read_text(), parse_constant=lambda name: pytest.fail(f"{name} in the manifest"))


# ---- issue 19 item 3: failures that name their cause ----------------------------------------------
def one_error_line(done: Any) -> str:
    """The run's only ``error:`` line; no traceback, no MONAI object address, nothing after it."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    for noise in ("Traceback", "applying transform", " object at 0x"):
        assert noise not in done.stderr, noise
    after = done.stderr.splitlines()[done.stderr.splitlines().index(errors[0]) + 1:]
    assert all(line.startswith("  hint: ") for line in after), f"lines after the error: {after}"
    return errors[0]


def test_a_crop_larger_than_the_image_names_the_variable_to_lower(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli("train", str(make_mmar()), "--no-progress", "--set", *TINY_SET, "patch_size=[96,96,96]", f"MMAR_CKPT_DIR={out}")
    assert done.returncode == 2, done.stderr[-3000:]
    line = one_error_line(done)
    assert line.startswith("error: training failed in RandCropByPosNegLabeld on "), line
    assert "ValueError: The size of the proposed random crop ROI is larger than the image size" in line
    assert " — the crop (patch_size = [96, 96, 96]) is larger than the image [" in line and "--set patch_size=[" in line
    assert line.endswith("; -v shows the traceback") and not out.exists()


def test_in_channels_that_do_not_fit_the_images_name_the_setting(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["in_channels"] = 2
        config["train"]["model"]["args"]["in_channels"] = "{in_channels}"

    done = run_cli("train", str(make_mmar(edit=edit)), "--no-progress", "--set", *TINY_SET, f"MMAR_CKPT_DIR={tmp_path / 'out'}")
    assert done.returncode == 2, done.stderr[-3000:]
    line = one_error_line(done)
    assert line.startswith("error: training failed: RuntimeError: Given groups=1"), line
    assert "— the network takes 2 input channel(s) (in_channels = 2) but the images have 1; --set in_channels=1" in line


def test_label_values_beyond_out_channels_name_the_setting(make_mmar: Callable[..., Path], data: Path, tmp_path: Path) -> None:
    for entry in datalist(data)["training"]:
        label = data / entry["label"]
        image = nib.load(label)
        values = np.asanyarray(image.dataobj).copy()
        values[values == 1] = 2
        nib.save(nib.Nifti1Image(values, image.affine), label)
    done = run_cli("train", str(mmar_on(make_mmar, data)), "--no-progress", "--set", *TINY_SET, f"MMAR_CKPT_DIR={tmp_path / 'out'}")
    assert done.returncode == 2, done.stderr[-3000:]
    line = one_error_line(done)
    assert "IndexError" in line or "RuntimeError" in line, line
    assert ("— a label holds the value 2 but the network predicts 2 classes (train.model.args.out_channels = 2); "
            "set train.model.args.out_channels to 3 in the config") in line, line


BROKEN_HANDLER = '''from ignite.engine import Events


class Broken:
    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), self)

    def __call__(self, engine):
        raise ValueError("broke at the first iteration")
'''


def test_verify_shows_the_failing_runs_cause(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"path": "broken.Broken"})

    root = make_mmar(edit=edit, custom={"broken.py": BROKEN_HANDLER})
    done = run_cli("verify", str(root), "--set", *TINY_SET, env={"TMPDIR": str(tmp_path)})
    assert done.returncode == 1, done.stderr[-3000:]
    line = one_error_line(done)
    assert line == (f"error: run 1 of mmar verify failed (exit 1): training failed ({root}/custom/broken.py, line 9): "
                    "ValueError: broke at the first iteration; -v shows the traceback"), line
    assert "amp requested" not in done.stderr, "the run's log lines are not the cause"


def test_finetune_with_a_checkpoint_of_another_network_says_how_it_was_trained(make_mmar: Callable[..., Path],
                                                                             tmp_path: Path) -> None:
    import torch
    from monai.networks.nets import UNet

    trained = {"name": "UNet", "args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "channels": [8, 16, 32],
                                        "strides": [2, 2], "num_res_units": 2, "norm": "batch"}}
    checkpoint = tmp_path / "other.pt"
    torch.save({"model": UNet(**trained["args"]).state_dict(), "train_conf": {"train": {"model": trained}}}, checkpoint)
    result = invoke("finetune", str(make_mmar()), "--no-progress", "--set", *TINY_SET, f"MMAR_CKPT={checkpoint}",
                    f"MMAR_CKPT_DIR={tmp_path / 'out'}")
    text = assert_bad_input(result, f"{CONFIG}: train.handlers[0].args.load_path: {checkpoint} does not fit the network of "
                                    "train.model: ", "tensor(s) differ in shape (first model.0.conv.unit0.conv.weight: "
                                    "[8, 1, 3, 3, 3] in the checkpoint, [4, 1, 3, 3, 3] here)",
                            "the checkpoint was trained with channels=[8, 16, 32] (this run: [4, 8, 16])",
                            "hint: --set channels=[8,16,32] fine-tunes it as it was trained")
    assert len(text) < 1000 and "Unexpected key" not in text and not (tmp_path / "out").exists()


EXIT_DURING_A_CACHE_FILL = '''import sys
import torch
from monai.data import CacheDataset
from monai.transforms import Lambda
from runner.data.cases import CaseIndex, LocatedCompose
from runner.entry import _wait_for_transforms


def work(case):
    if case == 0:
        raise ValueError("bad case")
    volume = torch.randn(1, 1, 64, 64, 64)
    for _ in range(20):
        volume = torch.nn.functional.conv3d(volume, torch.ones(1, 1, 3, 3, 3), padding=1)
    return case


try:
    CacheDataset(list(range(40)), LocatedCompose([Lambda(work)], CaseIndex("d.json", "training", {})), num_workers=1,
                 progress=False)
except RuntimeError:
    print("the fill failed", file=sys.stderr)
_wait_for_transforms()  # what runner.entry.main does before the interpreter exits
sys.exit(2)
'''


def test_exiting_while_a_failed_cache_fill_still_runs_a_case_does_not_abort(tmp_path: Path) -> None:
    """CacheDataset's pool thread still runs the next case (inside torch) when the failure ends the process; without
    the entry point's wait the interpreter kills it there and the process aborts (-6) after its error was printed."""
    script = tmp_path / "exit_during_fill.py"
    script.write_text(EXIT_DURING_A_CACHE_FILL)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (2, ["the fill failed"]), done.stderr[-2000:]


FAILS_THEN_WORKS = '''import torch


class FailFirst:
    """Fails on one case at once; works a while (in torch's C++ code) on the others."""

    def __init__(self, keys, failing):
        self.keys, self.failing = keys, failing

    def __call__(self, data):
        if str(data["image"]).endswith(self.failing):
            raise ValueError("this case cannot be read")
        volume = torch.randn(1, 1, 48, 48, 48)
        for _ in range(40):
            volume = torch.nn.functional.conv3d(volume, torch.ones(1, 1, 3, 3, 3) / 27, padding=1)
        return data
'''


def test_a_custom_transform_failing_while_the_cache_fills_names_case_file_and_line(make_mmar: Callable[..., Path], data: Path,
                                                                                     tmp_path: Path) -> None:
    """The fill thread still works on the next case when the error ends the run (the abort it may cause is timing
    dependent here; the test above makes it certain)."""
    first = datalist(data)["training"][0]["image"]

    def edit(config: dict[str, Any]) -> None:
        config["train"]["pre_transforms"].insert(0, {"path": "slow.FailFirst", "args": {"keys": "image", "failing": first}})

    root = mmar_on(make_mmar, data, edit, custom={"slow.py": FAILS_THEN_WORKS})
    done = run_cli("train", str(root), "--no-progress", "--set", *TINY_SET, f"MMAR_CKPT_DIR={tmp_path / 'out'}")
    assert "terminate called" not in done.stderr and done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert f"training[0] ({data / first}): FailFirst ({root}/custom/slow.py, line 12): ValueError: this case cannot be read" \
        in one_error_line(done)
