"""``mmar check --data``: open every file a datalist names, before a run meets a bad one mid-epoch.

For each entry: every file's header is read (NIfTI and the other formats nibabel reads, and 2D
images through Pillow; other formats are counted as not inspected); an image and its label must
have the same spatial shape. For a sample of the labels (spread over the list, within a time
budget) the voxel values are read: they must be whole numbers within the classes the config's
network predicts (``out_channels``; 0 and 1 when it has one). Every bad case is reported at once,
as ``DATALIST: key[index]: FILE: problem``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ConfigIssue, first_line

NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".hdr", ".img", ".img.gz")
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
LABEL_SAMPLES = 16
BUDGET_S = 120.0
IMAGE_KEYS = ("image",)
LABEL_KEYS = ("label",)


@dataclass
class DataReport:
    """What ``--data`` found and how much of the data it looked at."""

    issues: list[ConfigIssue] = field(default_factory=list)
    headers_read: int = 0
    files: int = 0
    not_inspected: int = 0
    labels_read: int = 0
    labels: int = 0
    out_of_time: bool = False
    bad: set[int] = field(default_factory=set)  # indexes of the entries with a problem

    def add(self, index: int, issue: ConfigIssue) -> None:
        self.issues.append(issue)
        self.bad.add(index)

    def summary(self, key: str) -> str:
        parts = [f"{key}: headers of {self.headers_read} of {self.files} files"]
        if self.labels:
            parts.append(f"label values of {self.labels_read} of {self.labels} cases")
        if self.not_inspected:
            parts.append(f"{self.not_inspected} files in formats not inspected")
        if self.out_of_time:
            parts.append(f"stopped at the {BUDGET_S:g} s budget")
        return ", ".join(parts)


def inspect_datalist(datalist: str, key: str, entries: Sequence[Mapping[str, Any]], classes: int | None,
                     budget_s: float = BUDGET_S, show_progress: bool | None = None) -> DataReport:
    """Read every entry's headers and a sample of its labels; see the module docstring."""
    from tqdm import tqdm

    report = DataReport()
    deadline = time.monotonic() + budget_s
    with_label = [i for i, entry in enumerate(entries) if _files(entry, LABEL_KEYS)]
    sampled = set(_spread(with_label, LABEL_SAMPLES)) if classes else set()
    report.labels = len(with_label) if classes else 0
    progress = sys.stderr.isatty() if show_progress is None else show_progress
    for index, entry in enumerate(tqdm(entries, desc=f"reading {key}", unit="case", disable=not progress, leave=False)):
        if time.monotonic() > deadline:
            report.out_of_time = True
            report.files += sum(len(_files(e, IMAGE_KEYS + LABEL_KEYS)) for e in entries[index:])
            break
        shapes = {}
        for field_name, path in _files(entry, IMAGE_KEYS + LABEL_KEYS):
            report.files += 1
            reader = _reader(path)
            if reader is None:
                report.not_inspected += 1
                continue
            try:
                image = reader(path)
                shapes[field_name] = _spatial(image)
                problem = _cut_short(path, image)
            except Exception as exc:  # noqa: BLE001 - every way a file can be unreadable is reported the same way
                problem = f"cannot be read: {type(exc).__name__}: {first_line(exc)}"
            if problem:
                report.add(index, _issue(datalist, key, index, path, problem))
                continue  # its values cannot be read either
            report.headers_read += 1
            if field_name in LABEL_KEYS and index in sampled and classes:
                report.labels_read += 1
                problem = _label_problem(image, classes)
                if problem:
                    report.add(index, _issue(datalist, key, index, path, problem))
        image_shape, label_shape = shapes.get("image"), shapes.get("label")
        if image_shape is not None and label_shape is not None and image_shape != label_shape:
            label_path = next(p for f, p in _files(entry, LABEL_KEYS))
            report.add(index, _issue(datalist, key, index, label_path,
                                        f"label shape {list(label_shape)} differs from the image's {list(image_shape)}"))
    return report


def _issue(datalist: str, key: str, index: int, path: str, problem: str) -> ConfigIssue:
    return ConfigIssue(datalist, f"{key}[{index}]", f"{path}: {problem}")


def _files(entry: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for key in keys:
        value = entry.get(key)
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, str) and Path(path).is_file():
                found.append((key, path))
    return found


def _spread(indices: list[int], count: int) -> list[int]:
    if len(indices) <= count:
        return indices
    step = len(indices) / count
    return [indices[int(i * step)] for i in range(count)]


def _reader(path: str) -> Any:
    lowered = path.lower()
    if lowered.endswith(NIBABEL_SUFFIXES):
        import nibabel

        return nibabel.load
    if lowered.endswith(PILLOW_SUFFIXES):
        from PIL import Image

        return Image.open
    return None


def _spatial(image: Any) -> tuple[int, ...]:
    """The spatial shape: a NIfTI's first three axes (a fourth is channels or time), a 2D image's size."""
    shape = getattr(image, "shape", None)
    if shape is not None:
        return tuple(int(v) for v in shape[:3])
    width, height = image.size
    return (int(width), int(height))


def _cut_short(path: str, image: Any) -> str | None:
    """A NIfTI file shorter than its header says (a copy cut short), found without reading its data.

    Uncompressed: the file size. Gzipped: the stream's trailer, which records the uncompressed size
    (modulo 2**32); a cut-short file ends in data bytes instead.
    """
    header, offset = getattr(image, "header", None), getattr(getattr(image, "dataobj", None), "offset", None)
    if header is None or offset is None or not path.lower().endswith((".nii", ".nii.gz")):
        return None
    import numpy as np

    expected = int(offset) + int(np.prod(header.get_data_shape())) * header.get_data_dtype().itemsize
    size = Path(path).stat().st_size
    if not path.lower().endswith(".gz"):
        return f"cut short: {size} bytes of the {expected} its header announces" if size < expected else None
    with open(path, "rb") as raw:  # noqa: PTH123
        raw.seek(max(size - 4, 0))
        recorded = int.from_bytes(raw.read(4), "little")
    if recorded != expected % 2**32:
        return f"cut short or damaged: the gzip stream does not end after the {expected} bytes its header announces"
    return None


def _label_problem(image: Any, classes: int) -> str | None:
    import numpy as np

    values = np.unique(np.asanyarray(image.dataobj) if hasattr(image, "dataobj") else np.asarray(image))
    allowed = max(classes, 2)
    if not np.all(np.equal(np.mod(values, 1), 0)):
        shown = ", ".join(f"{v:g}" for v in values[np.mod(values, 1) != 0][:5])
        return f"label values are not whole numbers ({shown}); a segmentation label holds class indices"
    outside = values[(values < 0) | (values >= allowed)]
    if outside.size:
        shown = ", ".join(f"{int(v)}" for v in outside[:10])
        return f"label values {shown} are outside the {allowed} classes the network predicts (0..{allowed - 1})"
    return None
