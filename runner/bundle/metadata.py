"""The metadata fields a bundle must have, per MONAI's bundle specification, checked offline.

``monai.bundle verify_metadata`` downloads the JSON schema named by ``schema`` and validates
against it; a check must not need the network, so we mirror the specification's mandatory keys
(docs ``mb_specification``: "The mandatory keys are ...") plus ``schema`` itself, which
``verify_metadata`` refuses to run without. MONAI renamed ``optional_packages_version`` to
``required_packages_version`` (``DEPRECATED_ID_MAPPING``); either is accepted.

| field | must be |
|---|---|
| ``schema``, ``version``, ``monai_version``, ``pytorch_version``, ``numpy_version`` | non-empty text |
| ``task``, ``description``, ``authors``, ``copyright`` | non-empty text |
| ``required_packages_version`` (or ``optional_packages_version``) | a mapping |
| ``network_data_format`` | a mapping with ``inputs`` and ``outputs`` mappings |

Tensor specs missing keys the specification lists (``type``, ``format``, ...) are warnings:
zoo bundles differ there and MONAI itself never reads most of them.
"""

from __future__ import annotations

from typing import Any

from runner.errors import ConfigIssue

TEXT_FIELDS = ("schema", "version", "monai_version", "pytorch_version", "numpy_version",
               "task", "description", "authors", "copyright")
PACKAGES_FIELDS = ("required_packages_version", "optional_packages_version")
TENSOR_KEYS = ("type", "format", "num_channels", "spatial_shape", "dtype", "value_range", "is_patch_data", "channel_def")


def check_metadata(metadata: dict[str, Any], file: str) -> list[ConfigIssue]:
    """Every missing or mistyped required field of ``metadata``."""
    issues = []
    for name in TEXT_FIELDS:
        value = metadata.get(name)
        if value is None:
            issues.append(ConfigIssue(file, name, "required field missing"))
        elif not isinstance(value, str) or not value.strip():
            issues.append(ConfigIssue(file, name, f"expected non-empty text, got {value!r}"))
    packages = [n for n in PACKAGES_FIELDS if n in metadata]
    if not packages:
        issues.append(ConfigIssue(file, PACKAGES_FIELDS[0], "required field missing (a mapping of package to version; "
                                                            "the older name optional_packages_version is read too)"))
    for name in packages:
        if not isinstance(metadata[name], dict):
            issues.append(ConfigIssue(file, name, f"expected a mapping of package to version, got {metadata[name]!r}"))
    return issues + _check_data_format(metadata.get("network_data_format"), file)


def _check_data_format(value: Any, file: str) -> list[ConfigIssue]:
    name = "network_data_format"
    if value is None:
        return [ConfigIssue(file, name, "required field missing (the model's inputs and outputs)")]
    if not isinstance(value, dict):
        return [ConfigIssue(file, name, f"expected a mapping with inputs and outputs, got {value!r}")]
    issues = []
    for side in ("inputs", "outputs"):
        tensors = value.get(side)
        if not isinstance(tensors, dict) or not tensors:
            issues.append(ConfigIssue(file, f"{name}#{side}", "required: a mapping of tensor names to their formats"))
            continue
        for tensor, spec in tensors.items():
            if not isinstance(spec, dict):
                issues.append(ConfigIssue(file, f"{name}#{side}#{tensor}", f"expected a mapping, got {spec!r}"))
                continue
            absent = [k for k in TENSOR_KEYS if k not in spec]
            if absent:
                issues.append(ConfigIssue(file, f"{name}#{side}#{tensor}", f"no {', '.join(absent)} (the specification "
                                                                           "lists them for every tensor)", severity="warning"))
    return issues
