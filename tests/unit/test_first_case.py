"""The pure helpers behind check --data's first-case run: which argument an error is about, a size that fits."""

from __future__ import annotations

import numpy as np
import pytest

from runner.config.models import ComponentSpec
from runner.data.first_case import _fitting, _offending_args, _spatial

CROP = ComponentSpec(name="RandSpatialCropd", args={"keys": ["image"], "roi_size": [96, 96, 96], "random_size": False})


@pytest.mark.parametrize(("error", "expected"), [
    ("min ROI size: [96, 96, 96] is larger than max ROI size: (34, 34, 32).", ["roi_size"]),  # a size error: *size args
    ("keys ['img'] not in data", ["keys"]),  # an argument the error names
    ("Cannot interpret 'torch.float32' as a data type", []),  # nothing to point at
])
def test_the_offending_argument_is_named_by_the_error_or_is_a_size(error: str, expected: list[str]) -> None:
    assert _offending_args(CROP, error) == expected, "random_size is a flag, never the offending size"


def test_a_fitting_size_is_at_most_the_image_and_only_for_size_lists() -> None:
    assert _fitting([96, 96, 96], (34, 34, 32)) == [34, 34, 32]
    assert _fitting([32, -1, 64], (34, 34, 32)) == [32, -1, 32], "-1 (the whole axis) stays"
    assert _fitting([32, 32, 32], (34, 34, 32)) is None, "it fits already"
    assert _fitting([96, 96], (34, 34, 32)) is None and _fitting(96, (34, 34, 32)) is None
    assert _fitting([True, 96, 96], (34, 34, 32)) is None


def test_spatial_shape_comes_from_the_affine_else_channel_first() -> None:
    from monai.data import MetaTensor

    assert _spatial(MetaTensor(np.zeros((1, 40, 40, 32)), affine=np.eye(4))) == (40, 40, 32)
    assert _spatial(MetaTensor(np.zeros((40, 40, 32)), affine=np.eye(4))) == (40, 40, 32), "before EnsureChannelFirstd"
    assert _spatial(np.zeros((1, 40, 40))) == (40, 40)
    assert _spatial(np.int64(1)) is None and _spatial(3) is None, "a classification label is not an image"
