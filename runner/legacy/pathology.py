"""The whole-slide-image datasets of Clara Train 4.x's pathology MMARs, on today's MONAI.

MONAI <= 1.1 ``PatchWSIDataset(data, region_size, grid_shape, patch_size, image_reader_name)`` read a
``region_size`` region centred on each item's ``location``, cut it into a ``grid_shape`` grid of
cells, took a centred ``patch_size`` crop of each cell, and returned one ``{"image", "label"}`` dict
per cell, in the order of the item's ``label`` list (the first axis varying fastest).
``SmartCachePatchWSIDataset`` was MONAI's SmartCacheDataset over it with shuffling off. Today's
``monai.data.PatchWSIDataset`` reads one patch per item, so configs written for the old one get
these classes, which read through today's ``monai.data.WSIReader``.

The reader is a host capability: when the library a config names (cuCIM, usually) is not
installed, the first installed one of cuCIM, OpenSlide and tifffile reads the slide instead
(all three give the same pixels at level 0), with a warning.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from monai.data import Dataset, SmartCacheDataset, WSIReader
from monai.transforms import apply_transform

logger = logging.getLogger(__name__)

BACKENDS = {"cucim": "cucim", "openslide": "openslide", "tifffile": "tifffile"}  # reader name -> module


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else (int(value[0]), int(value[1]))


@functools.cache
def reader_backend(requested: str) -> str:
    """The WSIReader backend to use for ``image_reader_name``: the one asked for, else the first installed."""
    wanted = requested.lower()
    if wanted not in BACKENDS:
        raise ValueError(f"image_reader_name '{requested}' is not a whole-slide reader; use one of cuCIM, OpenSlide, tifffile")
    if importlib.util.find_spec(BACKENDS[wanted]) is not None:
        return wanted
    for backend, module in BACKENDS.items():
        if importlib.util.find_spec(module) is not None:
            logger.warning("image_reader_name '%s' is not installed here; reading the slides with %s (the same pixels at level 0)",
                           requested, backend)
            return backend
    raise ValueError(f"no whole-slide reader is installed (image_reader_name '{requested}'): install cucim, openslide-python or tifffile")


def split_region(region: np.ndarray, grid: tuple[int, int], patch: tuple[int, int]) -> np.ndarray:
    """``[C, H, W]`` -> ``[N, C, ph, pw]``: a centred ``patch`` crop of each cell of a ``grid``, first axis fastest."""
    size = region.shape[1:]
    starts = [np.round(size[axis] * (0.5 + np.arange(grid[axis])) / grid[axis] - patch[axis] / 2).astype(int) for axis in (0, 1)]
    tiles = [region[:, row:row + patch[0], column:column + patch[1]] for column in starts[1] for row in starts[0]]
    return np.stack(tiles)


class PatchWSIDataset(Dataset):
    """MONAI <= 1.1 ``PatchWSIDataset``: items ``{"image": slide, "location": [row, col], "label": [one per cell]}``."""

    def __init__(self, data: Sequence[dict], region_size: int | Sequence[int], grid_shape: int | Sequence[int],
                 patch_size: int | Sequence[int], transform: Callable | None = None, image_reader_name: str = "cuCIM") -> None:
        super().__init__(data, transform)
        self.region_size = _pair(region_size)
        self.grid_shape = _pair(grid_shape)
        self.patch_size = _pair(patch_size)
        self.reader = WSIReader(backend=reader_backend(image_reader_name), level=0)
        self._slides: dict[str, Any] = {}

    def _slide(self, path: str) -> Any:
        if path not in self._slides:
            self._slides[path] = self.reader.read(path)
        return self._slides[path]

    def _transform(self, index: int) -> list[dict[str, Any]]:
        sample = self.data[index]
        location = tuple(int(sample["location"][axis]) - self.region_size[axis] // 2 for axis in (0, 1))
        region, _ = self.reader.get_data(self._slide(sample["image"]), location=location, size=self.region_size, level=0)
        tiles = split_region(np.asarray(region), self.grid_shape, self.patch_size)
        labels = np.asarray(sample["label"], dtype=np.float32).reshape(-1, 1, 1, 1)
        if len(labels) != len(tiles):
            raise ValueError(f"item {index}: {len(labels)} labels for a {self.grid_shape[0]}x{self.grid_shape[1]} grid of patches")
        patches = [{"image": tile, "label": label} for tile, label in zip(tiles, labels, strict=True)]
        return apply_transform(self.transform, patches) if self.transform is not None else patches


class SmartCachePatchWSIDataset(SmartCacheDataset):
    """MONAI <= 1.1 ``SmartCachePatchWSIDataset``: a SmartCacheDataset over the PatchWSIDataset above, not shuffled."""

    def __init__(self, data: Sequence[dict], region_size: int | Sequence[int], grid_shape: int | Sequence[int],
                 patch_size: int | Sequence[int], transform: Callable | None = None, image_reader_name: str = "cuCIM",
                 replace_rate: float = 0.5, cache_num: int = sys.maxsize, cache_rate: float = 1.0, num_init_workers: int | None = None,
                 num_replace_workers: int | None = None, progress: bool = True, copy_cache: bool = True, as_contiguous: bool = True) -> None:
        patches = PatchWSIDataset(data, region_size, grid_shape, patch_size, image_reader_name=image_reader_name)
        super().__init__(data=patches, transform=transform, replace_rate=replace_rate, cache_num=cache_num, cache_rate=cache_rate,
                         num_init_workers=num_init_workers, num_replace_workers=num_replace_workers, progress=progress, shuffle=False,
                         copy_cache=copy_cache, as_contiguous=as_contiguous)
