"""MONAI classes that need a package MONAI does not install, so ``mmar check`` can name it before a run fails.

MONAI imports such packages lazily (``optional_import``), so a config naming ``TorchVisionFCModel``
or ``LoadImaged(reader="ITKReader")`` passes every signature check and fails at the first
iteration. The table maps each class (and each image reader named by a string) to the module it
imports; the check looks the module up without importing it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

# class or reader name -> (module to find, pip package to install)
NEEDS: dict[str, tuple[str, str]] = {
    "TorchVisionFCModel": ("torchvision", "torchvision"),
    "TorchVisionFullyConvModel": ("torchvision", "torchvision"),
    "TorchVision": ("torchvision", "torchvision"),
    "TorchVisiond": ("torchvision", "torchvision"),
    "TorchVisionD": ("torchvision", "torchvision"),
    "RandTorchVision": ("torchvision", "torchvision"),
    "RandTorchVisiond": ("torchvision", "torchvision"),
    "ITKReader": ("itk", "itk"),
    "ITKWriter": ("itk", "itk"),
    "CuCIM": ("cucim", "cucim"),
    "RandCuCIM": ("cucim", "cucim"),
    "CuCIMd": ("cucim", "cucim"),
    "RandCuCIMd": ("cucim", "cucim"),
    "LMDBDataset": ("lmdb", "lmdb"),
}


def missing_package(name: str, args: dict[str, Any]) -> tuple[str, str] | None:
    """(what needs it, pip package) when ``name`` or its ``reader`` argument needs a package that is not installed."""
    for needed_by in (name, args.get("reader") if isinstance(args.get("reader"), str) else None):
        if needed_by in NEEDS:
            module, package = NEEDS[needed_by]
            if importlib.util.find_spec(module) is None:
                return needed_by, package
    return None


# handler class -> (module it imports when it runs, pip package): MONAI's handlers import these lazily,
# so a missing one passes every signature check and fails at the first event (MLFlowHandler at STARTED).
HANDLER_NEEDS: dict[str, tuple[str, str]] = {
    "MLFlowHandler": ("mlflow", "mlflow"),
    "ClearMLHandler": ("clearml", "clearml"),
    "ClearMLStatsHandler": ("clearml", "clearml"),
    "ClearMLImageHandler": ("clearml", "clearml"),
    "TensorBoardHandler": ("tensorboard", "tensorboard"),
    "TensorBoardStatsHandler": ("tensorboard", "tensorboard"),
    "TensorBoardImageHandler": ("tensorboard", "tensorboard"),
}


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported here, found without importing it."""
    return importlib.util.find_spec(module) is not None


def missing_handler_package(name: str, installed: Callable[[str], bool] = is_installed) -> str | None:
    """The pip package a handler class needs and this environment lacks, or None."""
    if name in HANDLER_NEEDS:
        module, package = HANDLER_NEEDS[name]
        if not installed(module):
            return package
    return None
