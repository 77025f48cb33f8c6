"""configs/metadata.json of a converted bundle: MONAI's mandatory fields, with the versions this runner trains on.

The network's input and output are described from the MMAR's model arguments where it names
them (``in_channels``/``out_channels``, ``spatial_dims``; the train patch size when a crop gives
one); what the MMAR does not say is written as MONAI's spec allows (``"hwd"``, ``"magnitude"``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from runner.config.load import LoadedConfig

SCHEMA = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json"
BUNDLE_VERSION = "0.1.0"
PACKAGES = ("monai", "torch", "numpy", "pytorch-ignite")


def installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def metadata(loaded: LoadedConfig, name: str) -> dict[str, Any]:
    versions = {p: installed(p) for p in PACKAGES}
    model = loaded.model.train.model if hasattr(loaded.model, "train") else None
    args = dict(model.args) if model is not None else {}
    dims = args.get("spatial_dims", args.get("dimensions", 3))
    spatial = "hwd" if dims == 3 else "hw"
    label = model.label if model is not None else "the MMAR's network"
    return {
        "schema": SCHEMA,
        "version": BUNDLE_VERSION,
        "changelog": {BUNDLE_VERSION: f"converted from the Clara MMAR {name} by mmar convert"},
        "monai_version": versions["monai"],
        "pytorch_version": versions["torch"],
        "numpy_version": versions["numpy"],
        "required_packages_version": {"pytorch-ignite": versions["pytorch-ignite"]},
        "name": name,
        "task": f"{name}: the training pipeline of the Clara MMAR {name}",
        "description": f"{label} trained as the MMAR's {loaded.file} trains it (dialect {loaded.dialect}, seed {loaded.seed}); "
                       "mmar convert wrote this bundle",
        "authors": "mmar convert (from the MMAR's config)",
        "copyright": "the MMAR's authors",
        "network_data_format": {
            "inputs": {"image": _tensor(args.get("in_channels", 1), spatial, "image")},
            "outputs": {"pred": _tensor(args.get("out_channels", 1), spatial, "segmentation")},
        },
    }


def _tensor(channels: Any, spatial: str, kind: str) -> dict[str, Any]:
    return {"type": "image", "format": "magnitude" if kind == "image" else "segmentation",
            "modality": "unknown", "num_channels": channels if isinstance(channels, int) else 1,
            "spatial_shape": [32] * len(spatial), "dtype": "float32", "value_range": [],
            "is_patch_data": False, "channel_def": {}}
