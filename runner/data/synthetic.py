"""A small spleen-like CT data set, made deterministically from a seed (no downloads).

Each case is a 3D volume in Hounsfield-like units: soft-tissue background with noise, a body
outline, and one ellipsoid "spleen" (label 1) at a seeded position and size. Files are NIfTI
(.nii.gz, byte-identical for the same arguments) with a Decathlon-style ``dataset.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to make: case counts, volume shape (x, y, z), voxel spacing in mm, seed."""

    train_cases: int = 8
    val_cases: int = 2
    test_cases: int = 0
    shape: tuple[int, int, int] = (64, 64, 48)
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.0)
    seed: int = 0


def make_case(rng: np.random.Generator, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One (image, label) pair; image float32 in HU-like units, label uint8 in {0, 1}."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape], indexing="ij"))
    body = (grid[0] ** 2 + grid[1] ** 2) < 0.85**2
    image = np.where(body, 40.0, -1000.0).astype(np.float32)
    image += rng.normal(0.0, 20.0, size=shape).astype(np.float32)
    center = rng.uniform(-0.35, 0.35, size=3).astype(np.float32)
    radii = rng.uniform(0.18, 0.32, size=3).astype(np.float32)
    inside = (((grid - center[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(axis=0) <= 1.0
    image[inside] = 110.0 + rng.normal(0.0, 10.0, size=int(inside.sum())).astype(np.float32)
    return image, inside.astype(np.uint8)


def write_dataset(out_dir: Path, spec: SyntheticSpec) -> Path:
    """Write images, labels and dataset.json under ``out_dir``; return the datalist path."""
    import nibabel as nib

    rng = np.random.default_rng(spec.seed)
    affine = np.diag([*spec.spacing, 1.0])
    (out_dir / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out_dir / "labelsTr").mkdir(parents=True, exist_ok=True)
    entries: dict[str, list[dict[str, str]]] = {"training": [], "validation": [], "test": []}
    splits = [("training", spec.train_cases), ("validation", spec.val_cases), ("test", spec.test_cases)]
    index = 0
    for split, count in splits:
        for _ in range(count):
            image, label = make_case(rng, spec.shape)
            name = f"spleen_{index:03d}.nii.gz"
            nib.Nifti1Image(image, affine).to_filename(out_dir / "imagesTr" / name)
            nib.Nifti1Image(label, affine).to_filename(out_dir / "labelsTr" / name)
            entry = {"image": f"imagesTr/{name}"}
            if split != "test":
                entry["label"] = f"labelsTr/{name}"
            entries[split].append(entry)
            index += 1
    datalist = out_dir / "dataset.json"
    content = {
        "description": f"synthetic spleen-like CT, seed {spec.seed}, shape {list(spec.shape)}",
        "labels": {"0": "background", "1": "spleen"},
        **entries,
    }
    datalist.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %d cases to %s", index, out_dir)
    return datalist
