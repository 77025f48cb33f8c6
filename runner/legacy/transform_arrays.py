"""Custom transforms written for MONAI 0.5-0.8 get the arrays they got then.

In MONAI 0.5-0.8 (Clara Train 4.0/4.1) ``LoadImaged`` gave numpy arrays plus an
``<key>_meta_dict``, and the data stayed numpy until ``ToTensord``/``EnsureTyped`` made torch
tensors. BYOC transforms of that time do numpy things to their input
(``self.R.rand(*img.shape[1:]).astype(img.dtype)``, ``np.clip``, in-place numpy ops); on today's
MetaTensors they fail ("Cannot interpret 'torch.float32' as a data type") or silently drop the
metadata (``MetaTensor + ndarray`` is an ndarray).

The decision is per transform and never touches MONAI's own: a transform from the MMAR's
``custom/`` whose class defines its own ``__call__`` is given, at its place in its list, what MONAI
0.8 would have given it there: numpy arrays before the first ``ToTensord``/``EnsureTyped`` (or
after a ``ToNumpyd``), plain torch tensors after, with each ``<key>_meta_dict`` beside them. What it
returns is made a MetaTensor again with that metadata (as the transform left it), so the transforms
after it, collation and ``Invertd`` see today's types. ``"legacy_custom_transforms": false`` turns
this off for custom code written for today's MONAI.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

ArrayKind = Literal["numpy", "tensor"]

TO_TENSOR = frozenset({"ToTensord", "ToTensorD", "ToTensorDict", "ToTensor", "EnsureTyped", "EnsureTypeD", "EnsureTypeDict", "EnsureType"})
TO_NUMPY = frozenset({"ToNumpyd", "ToNumpyD", "ToNumpyDict", "ToNumpy"})
META_SUFFIX = "_meta_dict"


def array_kinds(labels: Iterable[tuple[str, Mapping[str, Any]]], start: ArrayKind = "numpy") -> list[ArrayKind]:
    """The array kind each transform of a list received in MONAI 0.8, from the names before it.

    ``labels`` are (class name, args) of the list's enabled entries in order. Pre-transforms start
    from numpy (``LoadImaged``); post-transforms from tensors (the model's output).
    """
    kinds: list[ArrayKind] = []
    current = start
    for name, args in labels:
        kinds.append(current)
        if name in TO_TENSOR:
            current = "numpy" if str(args.get("data_type", "tensor")).lower() == "numpy" else "tensor"
        elif name in TO_NUMPY:
            current = "numpy"
    return kinds


def wants_legacy_arrays(target: Any, custom_dir: Path) -> bool:
    """A class from the MMAR's custom/ that defines ``__call__`` itself (not only inherits MONAI's)."""
    if not inspect.isclass(target):
        return False
    owner = next((cls for cls in target.__mro__ if "__call__" in vars(cls)), None)
    if owner is None or owner is object:
        return False
    try:
        source = inspect.getsourcefile(inspect.unwrap(vars(owner)["__call__"]))
    except TypeError:
        return False
    return source is not None and Path(source).resolve().is_relative_to(custom_dir.resolve())


def with_legacy_arrays(target: type, kind: ArrayKind) -> type:
    """A subclass of ``target`` whose ``__call__`` sees ``kind`` arrays and returns MetaTensors.

    Keeps the name, module, constructor and every base (``Randomizable`` still seeds it; CacheDataset
    still stops caching at it), so ``isinstance`` and MONAI's handling of the transform hold.
    """

    class LegacyArrays(target):  # type: ignore[misc, valid-type]
        def __call__(self, data: Any, *args: Any, **kwargs: Any) -> Any:
            return call_with_legacy_arrays(super().__call__, data, kind, args, kwargs)

        def __reduce__(self) -> Any:
            return _rebuild, (target, kind, self.__dict__)

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(LegacyArrays, attribute, getattr(target, attribute))
    LegacyArrays.legacy_array_kind = kind
    return LegacyArrays


def _rebuild(target: type, kind: ArrayKind, state: dict[str, Any]) -> Any:
    """Unpickle (DataLoader workers started with spawn): the subclass is made again, not looked up."""
    obj = object.__new__(with_legacy_arrays(target, kind))
    obj.__dict__.update(state)
    return obj


def call_with_legacy_arrays(call: Any, data: Any, kind: ArrayKind, args: tuple, kwargs: dict) -> Any:
    """``call(data)`` with MetaTensors given as ``kind`` arrays and returned as MetaTensors."""
    from monai.data import MetaTensor

    if isinstance(data, MetaTensor):
        return _restore(call(_plain(data, kind), *args, **kwargs), data.meta, data.applied_operations)
    if not isinstance(data, Mapping):
        return call(data, *args, **kwargs)
    given: dict[Any, Any] = dict(data)
    originals: dict[str, MetaTensor] = {}
    added_meta: set[str] = set()
    for key, value in data.items():
        if isinstance(value, MetaTensor):
            originals[key] = value
            given[key] = _plain(value, kind)
            meta_key = f"{key}{META_SUFFIX}"
            if meta_key not in given:
                given[meta_key] = _meta_dict(value, kind)
                added_meta.add(meta_key)
    result = call(given, *args, **kwargs)
    if isinstance(result, list):
        return [_restore_dict(item, originals, added_meta) for item in result]
    return _restore_dict(result, originals, added_meta)


def _plain(value: Any, kind: ArrayKind) -> Any:
    tensor = value.as_tensor()
    return tensor.detach().cpu().numpy() if kind == "numpy" else tensor


def _meta_dict(value: Any, kind: ArrayKind) -> dict[str, Any]:
    """``<key>_meta_dict`` as MONAI 0.8 had it: the image's metadata, arrays in the list's kind."""
    import torch

    meta = dict(value.meta)
    if kind == "numpy":
        meta = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in meta.items()}
    return meta


def _restore_dict(result: Any, originals: Mapping[str, Any], added_meta: set[str]) -> Any:
    if not isinstance(result, Mapping):
        return result
    restored = dict(result)
    for key, original in originals.items():
        if key in restored:
            meta = restored.get(f"{key}{META_SUFFIX}", original.meta)
            restored[key] = _restore(restored[key], meta, original.applied_operations)
    for meta_key in added_meta:
        restored.pop(meta_key, None)
    return type(result)(restored) if not isinstance(result, dict) else restored


def _restore(value: Any, meta: Mapping[str, Any], applied_operations: list) -> Any:
    """An array the transform returned as a MetaTensor with ``meta``; anything else as it is."""
    import numpy as np
    import torch
    from monai.data import MetaTensor

    if isinstance(value, MetaTensor):
        return value
    if isinstance(value, np.ndarray):
        value = torch.as_tensor(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        return value
    clean = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in meta.items()}
    restored = MetaTensor(value, meta=clean)
    restored.applied_operations = list(applied_operations)
    return restored
