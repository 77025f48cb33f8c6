"""The adapters behave as the removed MONAI names did (what their 0.5-0.8 docs and tests specified)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from runner.legacy import successors as old


def test_channel_adapters() -> None:
    assert old.AddChanneld(keys="image")({"image": np.zeros((4, 5))})["image"].shape == (1, 4, 5)
    assert old.AddChannel()(np.zeros((4, 5))).shape == (1, 4, 5)
    assert old.AsChannelFirst()(np.zeros((4, 5, 3))).shape == (3, 4, 5)
    assert old.AsChannelFirstd(keys="x", channel_dim=1)({"x": np.zeros((4, 3, 5))})["x"].shape == (3, 4, 5)
    assert [p.shape for p in old.SplitChannel()(torch.zeros(2, 4, 5))] == [(1, 4, 5), (1, 4, 5)]
    split = old.SplitChanneld(keys="p")({"p": torch.zeros(2, 4, 5)})
    assert split["p_0"].shape == split["p_1"].shape == (1, 4, 5)


def test_coordinate_channels_count_from_one_as_before() -> None:
    """spatial_channels=(1, 2) named the two spatial axes of a [C, H, W] image: two coordinate channels."""
    assert old.AddCoordinateChannels(spatial_channels=(1, 2))(torch.zeros(1, 4, 5)).shape == (3, 4, 5)
    assert old.AddCoordinateChannelsd(keys="x", spatial_channels=(2,))({"x": torch.zeros(1, 4, 5)})["x"].shape == (2, 4, 5)


def test_split_on_grid_stacks_the_patches() -> None:
    image = torch.arange(3 * 4 * 4, dtype=torch.float32).reshape(3, 4, 4)
    patches = old.SplitOnGrid(grid_size=2)(image)
    assert patches.shape == (4, 3, 2, 2) and torch.equal(patches[0], image[:, :2, :2])
    assert old.SplitOnGrid(grid_size=2, patch_size=1)(np.zeros((3, 4, 4))).shape == (4, 3, 1, 1)
    assert old.SplitOnGridd(keys="a", grid_size=2)({"a": image})["a"].shape == (4, 3, 2, 2)


def test_decollated_ignores_the_old_batch_size() -> None:
    assert len(old.Decollated(keys="a", batch_size=2)({"a": torch.zeros(2, 3)})) == 2


def test_loaders_of_monai_04_return_the_meta_dict(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), tmp_path / "img.nii.gz")
    image, meta = old.LoadNifti()(str(tmp_path / "img.nii.gz"))
    assert image.shape == (4, 4, 4) and isinstance(meta, dict)
    assert sorted(old.LoadNiftid(keys="image")({"image": str(tmp_path / "img.nii.gz")})) == ["image", "image_meta_dict"]
    np.save(tmp_path / "a.npy", np.ones((3, 3)))
    assert sorted(old.LoadNumpyd(keys="image")({"image": str(tmp_path / "a.npy")})) == ["image", "image_meta_dict"]


def test_nifti_saver_keeps_save_and_save_batch_and_its_defaults(tmp_path: Path) -> None:
    saver = old.NiftiSaver(output_dir=str(tmp_path), print_log=False)
    saver.save(torch.ones(1, 4, 4, 4), {"filename_or_obj": "case0.nii.gz", "affine": np.eye(4), "original_affine": np.eye(4)})
    saver.save_batch(torch.ones(2, 1, 4, 4, 4), {"filename_or_obj": ["a.nii.gz", "b.nii.gz"],
                                                 "affine": torch.stack([torch.eye(4)] * 2), "original_affine": torch.stack([torch.eye(4)] * 2)})
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.nii.gz"))
    assert written == ["a/a_seg.nii.gz", "b/b_seg.nii.gz", "case0/case0_seg.nii.gz"], "postfix 'seg', a folder per case, as before"


def test_writers(tmp_path: Path) -> None:
    old.write_nifti(np.ones((4, 5, 6)), str(tmp_path / "w.nii.gz"), affine=np.eye(4))
    assert nib.load(tmp_path / "w.nii.gz").shape == (4, 5, 6)
    old.write_png(np.full((8, 8), 0.5), str(tmp_path / "w.png"), scale=255)
    assert np.asarray(Image.open(tmp_path / "w.png")).max() == 127
    old.write_png(np.full((8, 8), 0.5), str(tmp_path / "r.png"), output_spatial_shape=(4, 4), scale=255)
    assert np.asarray(Image.open(tmp_path / "r.png")).shape == (4, 4)


def test_segmentation_saver_handler_saves_each_sample(tmp_path: Path) -> None:
    handler = old.SegmentationSaver(output_dir=str(tmp_path), print_log=False, output_transform=lambda x: x["pred"])
    preds = [MetaTensor(torch.ones(1, 4, 4, 4), meta={"filename_or_obj": f"case{i}.nii.gz", "original_affine": torch.eye(4)})
             for i in range(2)]
    engine = SimpleNamespace(state=SimpleNamespace(output=[{"pred": p} for p in preds], batch=[{}, {}]))
    handler(engine)
    assert sorted(p.name for p in tmp_path.rglob("*.nii.gz")) == ["case0_seg.nii.gz", "case1_seg.nii.gz"]


def test_small_ones() -> None:
    from monai.metrics import DiceMetric

    assert old.slice_channels(torch.zeros(1, 5, 2), 1, 3).shape == (1, 2, 2)
    assert old.group_factory(3) is torch.nn.GroupNorm and old.alpha_dropout_factory(2) is torch.nn.AlphaDropout
    assert old.PT_BEFORE_1_7 is False
    assert old.IterationMetric(metric_fn=DiceMetric(), device="cpu").metric_fn is not None


def test_torchvision_fully_conv_model_needs_torchvision_and_says_so() -> None:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(Exception, match="torchvision"):
            old.TorchVisionFullyConvModel(model_name="resnet18", n_classes=1)
        return
    model = old.TorchVisionFullyConvModel(model_name="resnet18", n_classes=1)
    assert model(torch.zeros(1, 3, 224, 224)).shape[1] == 1
