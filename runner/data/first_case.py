"""``mmar check --data``: the first case of each dataset through its pre-transforms, once.

Reading headers cannot tell that a crop is larger than the image *after* resampling, that a
transform hands back a numpy array where a MetaTensor was (its affine gone: MONAI then treats the
image as identity-affine and labels silently stop lining up), or that image and label end up with
different shapes. So the section's pre-transforms are built as training builds them
(:class:`~runner.components.build.Builder`: MONAI 0.8 defaults, ``legacy_custom_transforms``,
``ref`` entries) and the first case that passed the file check goes through them one transform at
a time, on the entry itself: no dataset is made, so no cache folder is created or filled.

================  ==============================================================================
found             reported at
================  ==============================================================================
a transform fails the argument the error is about (``...args.spatial_size``) and the variable
                  behind its value (``patch_size``), with a value that fits the image there
metadata dropped  the first transform after which a key that held a MetaTensor (image, label) holds
                  numpy or a plain tensor (MONAI's ``ToNumpyd`` & co. are deliberate, not flagged)
crop too small    (a warning) a crop whose output is smaller than the size it was asked for: MONAI
image             leaves such axes uncropped, so cases come out in different sizes
shapes differ     the first transform after which image and label spatial shapes differ, up to the
                  first random transform (the random crop cuts both to one size, misaligned)
================  ==============================================================================

Random transforms are seeded as training seeds them (``<section>.dataset.transforms``) and the
global random states are put back afterwards.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.config.provenance import variables_behind
from runner.errors import ComponentError, ConfigIssue, DataCaseError
from runner.legacy.transform_arrays import TO_NUMPY, TO_TENSOR, wants_legacy_arrays

if TYPE_CHECKING:
    from runner.components.build import Builder
    from runner.config.models import ComponentSpec

IMAGE_KEY = "image"
CROP_SIZE_ARGS = ("spatial_size", "roi_size")
LABEL_KEY = "label"
DELIBERATE_CONVERSIONS = TO_NUMPY | TO_TENSOR | {"ToCupyd", "ToCupy", "ToPILd", "ToPIL"}
META_HINT = ("return a MetaTensor: keep the input's type (d[key] = img * x, torch ops on it) or wrap the result, "
             "MetaTensor(result, meta=img.meta)")
LEGACY_HINT = ('; written for MONAI 0.8\'s numpy arrays? "legacy_custom_transforms": true gives it numpy '
               "and makes its result a MetaTensor again")
SHAPES_HINT = ("a transform changes one and not the other (check its keys), or the two files differ in voxel spacing or "
               "orientation: the label would not line up with its image")


@dataclass
class CaseRun:
    """What running one dataset's first case found; ``index`` None when it was not run (``why``)."""

    key: str
    index: int | None = None
    why: str = ""
    issues: list[ConfigIssue] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.key}[{self.index}]" if self.index is not None else f"{self.key} not run ({self.why})"


@dataclass(frozen=True)
class Step:
    """One built pre-transform, where it is written in the config, and its spec."""

    transform: Any
    path: str
    spec: ComponentSpec | None


@dataclass(frozen=True)
class Case:
    """The entry being run, for messages: ``dataset.json: training[0] (…/spleen_000.nii.gz)``."""

    section: str
    datalist: str
    key: str
    index: int
    entry: Mapping[str, Any]

    def __str__(self) -> str:
        first = next((v for v in self.entry.values() if isinstance(v, str)), None)
        return f"{self.datalist}: {self.key}[{self.index}]" + (f" ({first})" if first else "")


def run_first_case(builder: Builder, section: str, datalist: str, key: str, entries: Sequence[Mapping[str, Any]],
                   bad: set[int], reported: Sequence[ConfigIssue]) -> CaseRun:
    """Run the first entry not in ``bad`` through ``section``'s pre-transforms; see the module docstring.

    ``reported``: the issues found so far; a pre-transform list they already fault is not run again.
    """
    run = CaseRun(key)
    index = next((i for i in range(len(entries)) if i not in bad), None)
    if index is None:
        run.why = "no case passed the file check" if entries else "the list is empty"
        return run
    owner = _pipeline_section(builder, section)
    if owner is None:
        run.why = "no pre-transforms"
        return run
    if any(i.severity == "error" and i.path.startswith(("train.pre_transforms", f"{owner}.pre_transforms")) for i in reported):
        run.why = "its pre-transforms have problems reported above"
        return run
    try:
        compose = builder.get(owner, "pre_transforms")
        steps = _steps(builder, owner, compose)
    except ComponentError as exc:
        run.why = "its pre-transforms cannot be built"
        run.issues.append(exc.issue)
        return run
    run.index = index
    case = Case(section, datalist, key, index, entries[index])
    with _seeded(builder, section, compose):
        run.issues += _run_steps(builder, case, compose, steps)
    return run


def _pipeline_section(builder: Builder, section: str) -> str | None:
    """The section whose pre_transforms the dataset gets: its own, or the other's through an explicit ``@pre_transforms``."""
    if builder.declared(section, "pre_transforms"):
        return section
    args = getattr(builder.spec(section, "dataset"), "args", None) or {}
    return builder.section_declaring("pre_transforms", section) if args.get("transform") == "@pre_transforms" else None


def _steps(builder: Builder, section: str, compose: Any) -> list[Step]:
    """The built transforms with their config entries (one entry each, as Builder built them)."""
    entries = builder.list_entries(section, "pre_transforms")
    transforms = list(compose.transforms)
    if len(entries) != len(transforms):  # not expected; the transforms still run, located by the list only
        return [Step(t, f"{section}.pre_transforms", None) for t in transforms]
    return [Step(t, _written_at(builder, spec, path), spec) for t, (spec, path) in zip(transforms, entries, strict=True)]


def _written_at(builder: Builder, spec: ComponentSpec, path: str) -> str:
    """Where a transform's arguments are written: a validate ``ref`` entry's are in the train entry it names."""
    for index, candidate in enumerate(builder.spec("train", "pre_transforms") or []):
        if candidate is spec:
            return f"train.pre_transforms[{index}]"
    return path


def _run_steps(builder: Builder, case: Case, compose: Any, steps: list[Step]) -> list[ConfigIssue]:
    """Apply the transforms one at a time (as the Compose would), checking the data after each."""
    issues: list[ConfigIssue] = []
    data: Any = copy.deepcopy(dict(case.entry))
    comparing_shapes = True  # until the first random transform (the random crop cuts both to one size)
    for position, step in enumerate(steps):
        comparing_shapes = comparing_shapes and not _is_random(step.transform)
        before = _meta_keys(data)
        try:
            data = compose(data, start=position, end=position + 1)
        except Exception as exc:  # noqa: BLE001 - whatever the transform raises is what training would meet
            issues.append(_failure_issue(builder, case, step, data, exc))
            break
        dropped = [k for k in before if _lost_meta(_first(data).get(k))]
        if dropped and step.spec is not None and step.spec.label not in DELIBERATE_CONVERSIONS:
            issues.append(_meta_issue(builder, case, step, data, dropped))
        uncropped = _uncropped_issue(builder, case, step, data)
        if uncropped is not None:
            issues.append(uncropped)
        shapes = _shape_issue(builder, case, data, step) if comparing_shapes else None
        if shapes is not None:
            issues.append(shapes)
            comparing_shapes = False
    return issues


# ---- (a) a transform fails ------------------------------------------------------------------------
def _failure_issue(builder: Builder, case: Case, step: Step, data: Any, exc: BaseException) -> ConfigIssue:
    from runner.data.cases import what_failed

    error = exc.__cause__ if isinstance(exc, DataCaseError) and exc.__cause__ is not None else exc
    what = what_failed(error)
    message = f"{case} fails in {what}"
    if step.spec is None:
        return ConfigIssue(builder.file, step.path, message)
    args = _offending_args(step.spec, str(error) + what)
    image_shape = _spatial(_first(data).get(IMAGE_KEY))
    for arg in args:
        origins = variables_behind(builder.loaded, f"{step.path}.args.{arg}")
        value = step.spec.args[arg]
        if origins:
            fits = _fitting(value, image_shape)
            named = ", which is ".join(str(o) for o in origins)
            hint = (f"{arg} {value} comes from the variable {named}"
                    + (f"; the image is {list(image_shape)} when {step.spec.label} gets it" if image_shape else "")
                    + (f": e.g. --set {origins[-1].name}={_compact(fits)}" if fits else f": change {origins[-1].name}"))
            return ConfigIssue(builder.file, f"{step.path}.args.{arg}", message, hint)
    if args:
        shape = f" (the image is {list(image_shape)} there)" if image_shape else ""
        hint = f"{args[0]} {step.spec.args[args[0]]} does not fit this case{shape}" if args[0].endswith("size") else None
        return ConfigIssue(builder.file, f"{step.path}.args.{args[0]}", message, hint)
    return ConfigIssue(builder.file, step.path, message)


def _offending_args(spec: ComponentSpec, error_text: str) -> list[str]:
    """The arguments an error is about: those it names, else (a size error) those named ``*size``."""
    named = [a for a in spec.args if re.search(rf"\b{re.escape(a)}\b", error_text)]
    if named:
        return named
    if "size" in error_text.lower():
        return [a for a in spec.args if a.endswith("size") and not isinstance(spec.args[a], bool)]  # not random_size
    return []


def _uncropped_issue(builder: Builder, case: Case, step: Step, data: Any) -> ConfigIssue | None:
    """A crop that asked for more than the image had: MONAI leaves those axes uncropped without a word
    (RandSpatialCropd without random_size, CenterSpatialCropd, allow_smaller), so cases come out in different sizes."""
    if step.spec is None or "Crop" not in step.spec.label:
        return None
    shape = _spatial(_first(data).get(IMAGE_KEY))
    for arg in CROP_SIZE_ARGS:
        value = step.spec.args.get(arg)
        fits = _fitting(value, shape)  # None: every axis got the size asked for
        if fits is None:
            continue
        origins = variables_behind(builder.loaded, f"{step.path}.args.{arg}")
        hint = (f"{arg} {value} comes from the variable {', which is '.join(str(o) for o in origins)}: e.g. "
                f"--set {origins[-1].name}={_compact(fits)}" if origins else f"make {arg} at most {fits}")
        return ConfigIssue(builder.file, f"{step.path}.args.{arg}",
                           f"{case}: {step.spec.label} was asked for {arg} {value} and the image is {list(shape)} after it: "
                           "the axes it could not crop are left as they are, so cases can come out in different sizes "
                           "(a batch cannot stack them)", hint, severity="warning")
    return None


def _fitting(value: Any, shape: tuple[int, ...] | None) -> list[int] | None:
    """A size that fits ``shape``: each of ``value``'s sizes, at most the image's; None if not a size list."""
    if shape is None or not isinstance(value, list) or len(value) != len(shape):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    fitted = [min(v, s) if v > 0 else v for v, s in zip(value, shape, strict=True)]
    return fitted if fitted != value else None


def _compact(value: Any) -> str:
    """A value as a --set word, without spaces: ``[32,32,32]``."""
    return json.dumps(value, separators=(",", ":"))


# ---- (b) metadata dropped ------------------------------------------------------------------------
def _meta_issue(builder: Builder, case: Case, step: Step, data: Any, keys: list[str]) -> ConfigIssue:
    label = step.spec.label if step.spec is not None else "a transform"
    kinds = ", ".join(f"{k} as a {_type_name(_first(data).get(k))}" for k in keys)
    hint = META_HINT
    if step.spec is not None and not builder.loaded.model.legacy_custom_transforms:
        from runner.components.resolve import resolve_target

        target = resolve_target(step.spec, builder.file, step.path)
        if wants_legacy_arrays(target, builder.loaded.mmar.custom_dir):
            hint += LEGACY_HINT
    return ConfigIssue(builder.file, step.path,
                       f"{case}: {label} returns {kinds} where it got a MetaTensor: the "
                       "affine and the other metadata are gone, so the transforms after it treat the image as "
                       "identity-affine and labels can silently misalign", hint)


def _meta_keys(data: Any) -> list[str]:
    from monai.data import MetaTensor

    return [k for k, v in _first(data).items() if isinstance(v, MetaTensor)]


def _lost_meta(value: Any) -> bool:
    """An array without metadata: numpy, or a torch tensor that is not a MetaTensor."""
    import numpy as np
    import torch
    from monai.data import MetaTensor

    return isinstance(value, np.ndarray) or (isinstance(value, torch.Tensor) and not isinstance(value, MetaTensor))


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__.split('.')[0]}.{kind.__name__}"


# ---- (c) image and label shapes differ ---------------------------------------------------------
def _shape_issue(builder: Builder, case: Case, data: Any, step: Step) -> ConfigIssue | None:
    image, label = _shapes(data)
    if image is None or label is None or image == label:
        return None
    label_name = step.spec.label if step.spec is not None else "a transform"
    return ConfigIssue(builder.file, step.path, f"{case}: after {label_name} the image's spatial shape is {list(image)} "
                       f"and the label's {list(label)}", SHAPES_HINT)


def _shapes(data: Any) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    item = _first(data)
    return _spatial(item.get(IMAGE_KEY)), _spatial(item.get(LABEL_KEY))


def _spatial(value: Any) -> tuple[int, ...] | None:
    """Spatial shape: a MetaTensor's last ``rank`` axes (its affine says the rank); else channel-first."""
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) < 2:  # not an image: a classification label, a scalar
        return None
    affine = getattr(value, "affine", None)
    rank = int(affine.shape[-1]) - 1 if getattr(affine, "ndim", 0) == 2 else len(shape) - 1
    return tuple(int(s) for s in shape[-rank:]) if 0 < rank <= len(shape) else tuple(int(s) for s in shape)


# ---- running ---------------------------------------------------------------------------------------
def _first(data: Any) -> Mapping[str, Any]:
    """The sample to look at: a list of samples (RandCropByPosNegLabeld's output) shows its first."""
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return data if isinstance(data, Mapping) else {}


def _is_random(transform: Any) -> bool:
    from monai.transforms import Randomizable

    return isinstance(transform, Randomizable)


@contextmanager
def _seeded(builder: Builder, section: str, compose: Any) -> Iterator[None]:
    """Random transforms seeded as training seeds them; Python's, numpy's and torch's global states kept."""
    import random

    import numpy as np
    import torch

    from runner.determinism import derive_seed, seed_randomizables

    seed = derive_seed(builder.loaded.seed, f"{section}.dataset.transforms")
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.random.default_generator.manual_seed(seed)
        seed_randomizables(compose, seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
