"""What a failure during a run means in the config's own terms: the setting behind it, and what to change.

MONAI's errors speak of tensors (``got ROI size (96, 96, 96) and label image size (54, 54, 48)``);
the user wrote ``"patch_size": [96, 96, 96]`` in a config. Each rule below matches one common error,
finds the config value behind it (and the ``{VARIABLE}`` that value comes from, if any) and says
what to change:

=====================================  ====================================  ===========================
error (innermost exception)            where                                 the setting named
=====================================  ====================================  ===========================
random crop ROI larger than the image  RandCropByPosNegLabeld & co.          the crop's ``spatial_size``
input to have N channels, got M        the network's first layer             ``train.model.args.in_channels``
index N out of bounds for dimension 1  one-hot of a label (loss, metrics)    ``train.model.args.out_channels``
no sampling location available         RandCropByPosNegLabeld on an empty    the crop's ``image_threshold``
                                       label and a dark image
=====================================  ====================================  ===========================

A matched failure is bad input that ``mmar check`` could not see (it reads no image): exit 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.config.vars import value_at, variable_at
from runner.errors import first_line

if TYPE_CHECKING:
    from runner.config.load import LoadedConfig

APPLYING = re.compile(r"applying transform <([\w.]+) object")
CROP_TOO_LARGE = re.compile(r"random crop ROI is larger than the image size, got ROI size \(([\d, ]+)\) and label image size \(([\d, ]+)\)")
CHANNELS = re.compile(r"expected input\[[\d, ]+\] to have (\d+) channels, but got (\d+) channels")
ONE_HOT_INDEX = re.compile(r"index (-?\d+) is out of bounds for dimension 1 with size (\d+)")
NO_CROP_CENTRE = re.compile(r"No sampling location available")


@dataclass(frozen=True)
class Setting:
    """A config value a failure comes from: its JSON path, value, and the variable it was written as."""

    path: str
    value: Any
    variable: str | None

    @property
    def name(self) -> str:
        return self.variable or self.path

    def render(self) -> str:
        return f"{self.name} = {json.dumps(self.value, default=str)}"

    def change(self, to: str) -> str:
        """How to change it: a variable on the command line, anything else in the file."""
        return f"--set {self.variable}={to}" if self.variable else f"set {self.path} to {to} in the config"


@dataclass(frozen=True)
class ConfigTrace:
    """The config as written and as resolved: plain data, so it crosses into DataLoader worker processes."""

    file: str
    activity: str  # "training", "validation", "inference": the word a failure line starts with
    raw: Mapping[str, Any]
    resolved: Mapping[str, Any]

    def setting(self, path: str) -> Setting | None:
        found, value = value_at(self.resolved, path)
        return Setting(path, value, variable_at(self.raw, path)) if found else None

    def transform_path(self, label: str) -> str | None:
        """Where the transform called ``label`` is declared (the train section first; a ``ref`` points there)."""
        for prefix in ("train.", "validate.", ""):
            found, entries = value_at(self.resolved, f"{prefix}pre_transforms")
            for index, entry in enumerate(entries if found and isinstance(entries, list) else []):
                if isinstance(entry, Mapping) and label in (entry.get("name"), str(entry.get("path", "")).rsplit(".", 1)[-1]):
                    return f"{prefix}pre_transforms[{index}]"
        return None

    def model_path(self) -> str:
        return "train.model" if value_at(self.resolved, "train.model")[0] else "model"


ACTIVITIES = {"train": "training", "validation": "validation", "inference": "inference"}


def trace_of(loaded: LoadedConfig) -> ConfigTrace:
    """The trace of a loaded config: as written (``{VAR}`` kept) and as it runs."""
    return ConfigTrace(loaded.file, ACTIVITIES.get(loaded.kind.name, "the run"), loaded.mmar.config, loaded.resolved)


@dataclass(frozen=True)
class Diagnosis:
    """What the failure means (``the crop ... is larger than the image ...``) and what to change."""

    meaning: str
    fix: str

    def render(self) -> str:
        return f"{self.meaning}; {self.fix}"


def innermost(error: BaseException) -> tuple[str | None, BaseException]:
    """The innermost transform MONAI names ("applying transform <...Spacingd object at 0x...>") and the root cause."""
    transform, inner = None, error
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = APPLYING.search(str(current))
        if found:
            transform = found.group(1).rsplit(".", 1)[-1]
        inner = current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return transform, inner


def diagnose(message: str, transform: str | None, trace: ConfigTrace) -> Diagnosis | None:
    """The first rule that matches the root cause's message, or None for a failure we cannot explain."""
    for pattern, rule in RULES:
        found = pattern.search(message)
        if found:
            diagnosis = rule(found, transform, trace)
            if diagnosis is not None:
                return diagnosis
    return None


def _sizes(text: str) -> list[int]:
    return [int(v) for v in text.replace(" ", "").split(",") if v]


def _crop_too_large(found: re.Match[str], transform: str | None, trace: ConfigTrace) -> Diagnosis | None:
    crop, image = _sizes(found.group(1)), _sizes(found.group(2))
    where = trace.transform_path(transform) if transform else None
    setting = trace.setting(f"{where}.args.spatial_size") if where else None
    fitting = json.dumps([min(c, i) for c, i in zip(crop, image, strict=False)]).replace(" ", "")
    if setting is None:
        return Diagnosis(f"the crop {crop} is larger than the image {image}",
                         f"lower the crop's spatial_size to at most {fitting}, or pad the image first (SpatialPadd)")
    return Diagnosis(f"the crop ({setting.render()}) is larger than the image {image} that reaches {transform}",
                     f"lower {setting.name} ({setting.change(fitting)}) or pad the image to it first "
                     f"(SpatialPadd with spatial_size {json.dumps(setting.value)})")


def _channels(found: re.Match[str], transform: str | None, trace: ConfigTrace) -> Diagnosis | None:
    wanted, got = found.group(1), found.group(2)
    setting = trace.setting(f"{trace.model_path()}.args.in_channels")
    if setting is None or str(setting.value) != wanted:
        return None  # a layer deeper in the network: not the config's in_channels
    return Diagnosis(f"the network takes {wanted} input channel(s) ({setting.render()}) but the images have {got}",
                     f"{setting.change(got)}, or give the images {wanted} channels (EnsureChannelFirstd, ConcatItemsd)")


def _label_values(found: re.Match[str], transform: str | None, trace: ConfigTrace) -> Diagnosis | None:
    value, classes = found.group(1), found.group(2)
    setting = trace.setting(f"{trace.model_path()}.args.out_channels")
    if setting is None or str(setting.value) != classes:
        return None
    return Diagnosis(f"a label holds the value {value} but the network predicts {classes} classes ({setting.render()})",
                     f"{setting.change(str(int(value) + 1))} (and to_onehot where the config one-hots labels), or fix the "
                     f"labels (mmar check --data lists the cases)")


def _no_crop_centre(found: re.Match[str], transform: str | None, trace: ConfigTrace) -> Diagnosis | None:
    where = trace.transform_path(transform) if transform else None
    setting = trace.setting(f"{where}.args.image_threshold") if where else None
    threshold = setting.render() if setting is not None else "image_threshold"
    return Diagnosis(f"the case has no voxel to centre a crop on: its label is empty (no foreground) and no image voxel "
                     f"is above {threshold} (no background)",
                     "check that case's label and image (mmar check --data), or lower the threshold")


Rule = Callable[[re.Match[str], "str | None", ConfigTrace], "Diagnosis | None"]
RULES: tuple[tuple[re.Pattern[str], Rule], ...] = (
    (CROP_TOO_LARGE, _crop_too_large),
    (CHANNELS, _channels),
    (ONE_HOT_INDEX, _label_values),
    (NO_CROP_CENTRE, _no_crop_centre),
)


def failure_line(error: BaseException, trace: ConfigTrace | None, case: str | None = None) -> tuple[str, Diagnosis | None]:
    """``training failed in T (custom/x.py, line 3) on CASE: Type: message — meaning; fix``, and the diagnosis.

    The file and line are the user's, when the innermost frame is in custom/ code; ``case`` is the
    datalist entry the data came from, when known.
    """
    from runner.components.registry import user_code_location

    transform, inner = innermost(error)
    where = user_code_location(inner)
    activity = trace.activity if trace is not None else "training"
    text = f"{activity} failed" + (f" in {transform}" if transform else "") + where + (f" on {case}" if case else "")
    message = first_line(inner)
    diagnosis = diagnose(message, transform, trace) if trace is not None else None
    text += f": {type(inner).__name__}: {message}"
    return (text + f" — {diagnosis.render()}" if diagnosis else text), diagnosis

