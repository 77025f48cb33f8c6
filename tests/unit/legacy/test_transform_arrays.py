"""Custom transforms written for MONAI 0.5-0.8 get numpy (or plain tensors) and give MetaTensors back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable, Spacingd

from runner.legacy.transform_arrays import array_kinds, call_with_legacy_arrays, wants_legacy_arrays, with_legacy_arrays


class NumpyNoised(Randomizable, MapTransform):
    """What a Clara 4.x BYOC transform did: numpy randomness, .astype(input dtype), in-place numpy ops."""

    def __init__(self, keys, max_add=0.5):
        MapTransform.__init__(self, keys)
        self.max_add = max_add
        self.seen = []

    def randomize(self, data=None):
        pass

    def __call__(self, data):
        d = dict(data)
        for key in self.keys:
            img = d[key]
            self.seen.append((type(img), type(d.get(f"{key}_meta_dict"))))
            noise = (self.R.rand(*img.shape[1:])[None] * self.max_add).astype(img.dtype)
            img += noise
            d[key] = np.clip(img, 0, 10)
        return d


def image() -> MetaTensor:
    affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0]))
    return MetaTensor(torch.ones(1, 4, 4, 4), affine=affine, meta={"filename_or_obj": "case0.nii.gz"})


def test_numpy_in_metatensor_out_with_the_metadata() -> None:
    transform = with_legacy_arrays(NumpyNoised, "numpy")(keys="image")
    transform.set_random_state(0)
    result = transform({"image": image(), "label": image()})
    assert transform.seen == [(np.ndarray, dict)], "the transform got numpy and a meta dict, as in MONAI 0.8"
    out = result["image"]
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert out.meta["filename_or_obj"] == "case0.nii.gz" and torch.equal(out.affine, image().affine)
    assert float(out.min()) >= 1.0 and float(out.max()) > 1.0, "the numpy noise was added"
    assert "image_meta_dict" not in result, "the meta dict given to the transform does not leak into the data"
    assert isinstance(result["label"], MetaTensor)


def test_the_subclass_is_still_the_users_class_and_randomizable() -> None:
    legacy = with_legacy_arrays(NumpyNoised, "numpy")
    transform = legacy(keys="image")
    assert isinstance(transform, NumpyNoised) and isinstance(transform, Randomizable)
    assert legacy.__name__ == "NumpyNoised"
    first = transform.set_random_state(7)({"image": image()})["image"]
    second = legacy(keys="image").set_random_state(7)({"image": image()})["image"]
    assert torch.equal(first, second)


def test_without_the_adapter_the_same_code_fails_as_in_clara_today() -> None:
    with pytest.raises(TypeError, match="Cannot interpret 'torch.float32' as a data type"):
        NumpyNoised(keys="image")({"image": image()})


def test_after_totensord_the_transform_gets_plain_tensors() -> None:
    seen = []

    def call(data):
        seen.append(type(data["image"]))
        return {**data, "image": data["image"] * 2}

    result = call_with_legacy_arrays(call, {"image": image()}, "tensor", (), {})
    assert seen == [torch.Tensor] and isinstance(result["image"], MetaTensor)
    assert float(result["image"].max()) == 2.0


def test_a_list_of_samples_is_restored_item_by_item() -> None:
    def crops(data):
        return [{"image": data["image"][:, :2]}, {"image": data["image"][:, 2:]}]

    result = call_with_legacy_arrays(crops, {"image": image()}, "numpy", (), {})
    assert [type(item["image"]) for item in result] == [MetaTensor, MetaTensor]
    assert result[0]["image"].shape == (1, 2, 4, 4)


def test_kinds_follow_totensord_and_tonumpyd() -> None:
    labels = [("LoadImaged", {}), ("Mine", {}), ("ToTensord", {}), ("Mine", {}), ("ToNumpyd", {}), ("Mine", {}),
              ("EnsureTyped", {"data_type": "numpy"}), ("Mine", {})]
    assert array_kinds(labels) == ["numpy", "numpy", "numpy", "tensor", "tensor", "numpy", "numpy", "numpy"]
    assert array_kinds([("Mine", {})], "tensor") == ["tensor"]


def test_only_custom_classes_with_their_own_call_are_adapted(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "mine.py").write_text("from monai.transforms import Spacingd\n\n\nclass Mine:\n    def __call__(self, d):\n        return d\n\n\n"
                                    "class OnlyArgs(Spacingd):\n    pass\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("mine", custom / "mine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert wants_legacy_arrays(module.Mine, custom)
    assert not wants_legacy_arrays(module.OnlyArgs, custom), "a subclass that only sets arguments runs MONAI's own __call__"
    assert not wants_legacy_arrays(Spacingd, custom), "MONAI's own transforms are never adapted"
    assert not wants_legacy_arrays(NumpyNoised, custom), "a class outside the MMAR's custom/ is not adapted"
