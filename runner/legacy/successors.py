"""Adapters: MONAI names removed since 0.5, rebuilt on today's MONAI, taking the old arguments.

Each is the successor of a row of :mod:`runner.legacy.monai_names` whose old call does not mean
the same when handed to today's class: a changed default (``AddChannel`` is
``EnsureChannelFirst(channel_dim="no_channel")``), renamed or re-based arguments
(``AddCoordinateChannels(spatial_channels)`` counted from 1), or a removed method
(``NiftiSaver.save_batch``). They subclass today's class where there is one, so ``isinstance``
checks and MONAI's own handling (Randomizable, inversion) still apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai import transforms as mt
from monai.handlers import IgniteMetricHandler

# ---- channels ----------------------------------------------------------------------------


class AddChannel(mt.EnsureChannelFirst):
    """MONAI <= 1.2 ``AddChannel()``: a channel dimension of size 1 in front."""

    def __init__(self) -> None:
        super().__init__(channel_dim="no_channel")


class AddChanneld(mt.EnsureChannelFirstd):
    """MONAI <= 1.2 ``AddChanneld(keys)``."""

    def __init__(self, keys: Any, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, channel_dim="no_channel", allow_missing_keys=allow_missing_keys)


class AsChannelFirst(mt.EnsureChannelFirst):
    """MONAI <= 1.2 ``AsChannelFirst(channel_dim=-1)``: move that dimension to the front."""

    def __init__(self, channel_dim: int = -1) -> None:
        super().__init__(channel_dim=channel_dim)


class AsChannelFirstd(mt.EnsureChannelFirstd):
    def __init__(self, keys: Any, channel_dim: int = -1, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, channel_dim=channel_dim, allow_missing_keys=allow_missing_keys)


class SplitChannel(mt.SplitDim):
    """MONAI <= 1.2 ``SplitChannel(channel_dim=0)``: one item per channel, each keeping the dimension."""

    def __init__(self, channel_dim: int = 0) -> None:
        super().__init__(dim=channel_dim, keepdim=True)


class SplitChanneld(mt.SplitDimd):
    def __init__(self, keys: Any, output_postfixes: Sequence[str] | None = None, channel_dim: int = 0,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, output_postfixes=output_postfixes, dim=channel_dim, keepdim=True, allow_missing_keys=allow_missing_keys)


class AddCoordinateChannels(mt.AddCoordinateChannels):
    """MONAI <= 0.8 ``AddCoordinateChannels(spatial_channels)``: channel indices counted from 1 (0 was the channel)."""

    def __init__(self, spatial_channels: Sequence[int]) -> None:
        super().__init__(spatial_dims=[channel - 1 for channel in spatial_channels])


class AddCoordinateChannelsd(mt.AddCoordinateChannelsd):
    def __init__(self, keys: Any, spatial_channels: Sequence[int], allow_missing_keys: bool = False) -> None:
        super().__init__(keys, spatial_dims=[channel - 1 for channel in spatial_channels], allow_missing_keys=allow_missing_keys)


class Decollated(mt.Decollated):
    """MONAI 0.5 ``Decollated(keys, batch_size)``: the batch size is inferred now."""

    def __init__(self, keys: Any = None, batch_size: int | None = None, detach: bool = True, allow_missing_keys: bool = False) -> None:
        super().__init__(keys=keys, detach=detach, allow_missing_keys=allow_missing_keys)


class SplitOnGrid(mt.GridSplit):
    """MONAI <= 1.1 pathology ``SplitOnGrid(grid_size, patch_size)``: the patches stacked, ``[N, C, h, w]``.

    Today's ``GridSplit`` returns them as a list.
    """

    def __init__(self, grid_size: int | tuple[int, int] = (2, 2), patch_size: int | tuple[int, int] | None = None) -> None:
        grid = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
        super().__init__(grid=grid, size=patch_size)

    def __call__(self, image: Any, size: Any = None) -> Any:
        patches = super().__call__(image, size)
        return np.stack(patches) if isinstance(image, np.ndarray) else torch.stack(list(patches))


class SplitOnGridd(mt.MapTransform):
    """MONAI <= 1.1 ``SplitOnGridd``: each key's image replaced by its stacked patches (today's ``GridSplitd`` makes one dict per patch)."""

    def __init__(self, keys: Any, grid_size: int | tuple[int, int] = (2, 2), patch_size: int | tuple[int, int] | None = None,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.splitter = SplitOnGrid(grid_size, patch_size)

    def __call__(self, data: Any) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.splitter(d[key])
        return d


# ---- loaders of MONAI 0.4 (removed in 0.5) -------------------------------------------------------


class LoadNifti(mt.LoadImage):
    """``LoadNifti(as_closest_canonical, image_only=False, dtype)``: returns (image, meta) unless image_only."""

    def __init__(self, as_closest_canonical: bool = False, image_only: bool = False, dtype: Any = np.float32) -> None:
        super().__init__(reader="NibabelReader", image_only=image_only, dtype=dtype, as_closest_canonical=as_closest_canonical)


class LoadNiftid(mt.LoadImaged):
    def __init__(self, keys: Any, as_closest_canonical: bool = False, dtype: Any = np.float32, meta_key_postfix: str = "meta_dict",
                 overwriting: bool = False) -> None:
        super().__init__(keys, reader="NibabelReader", dtype=dtype, meta_key_postfix=meta_key_postfix, overwriting=overwriting,
                         image_only=False, as_closest_canonical=as_closest_canonical)


class LoadPNG(mt.LoadImage):
    def __init__(self, image_only: bool = False, dtype: Any = np.float32) -> None:
        super().__init__(reader="PILReader", image_only=image_only, dtype=dtype)


class LoadPNGd(mt.LoadImaged):
    def __init__(self, keys: Any, dtype: Any = np.float32, meta_key_postfix: str = "meta_dict", overwriting: bool = False) -> None:
        super().__init__(keys, reader="PILReader", dtype=dtype, meta_key_postfix=meta_key_postfix, overwriting=overwriting, image_only=False)


class LoadNumpy(mt.LoadImage):
    def __init__(self, data_only: bool = False, dtype: Any = np.float32, npz_keys: Sequence[str] | None = None) -> None:
        super().__init__(reader="NumpyReader", image_only=data_only, dtype=dtype, npz_keys=npz_keys)


class LoadNumpyd(mt.LoadImaged):
    def __init__(self, keys: Any, dtype: Any = np.float32, npz_keys: Sequence[str] | None = None, meta_key_postfix: str = "meta_dict",
                 overwriting: bool = False) -> None:
        super().__init__(keys, reader="NumpyReader", dtype=dtype, npz_keys=npz_keys, meta_key_postfix=meta_key_postfix,
                         overwriting=overwriting, image_only=False)


# ---- savers and writers -----------------------------------------------------------------------


class _Saver:
    """NiftiSaver/PNGSaver of MONAI <= 1.1: ``save(data, meta_data)`` for one image, ``save_batch`` for a batch.

    Built on ``SaveImage`` with the old class's defaults (``SaveImage``'s own differ: postfix
    ``trans``, no resampling). The data is channel-first, as MONAI has had it since 0.9.
    """

    defaults: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        options = {**self.defaults, **kwargs}
        options.pop("align_corners", None)  # kept by NibabelWriter's metadata options, not SaveImage's arguments
        self.saver = mt.SaveImage(**options)

    def save(self, data: Any, meta_data: dict | None = None) -> None:
        self.saver(torch.as_tensor(data), meta_data=meta_data)

    def save_batch(self, batch_data: Any, meta_data: dict | None = None) -> None:
        from monai.data import decollate_batch

        metas = decollate_batch(meta_data) if meta_data is not None else [None] * len(batch_data)
        for data, meta in zip(batch_data, metas, strict=True):
            self.save(data, meta)


class NiftiSaver(_Saver):
    defaults = {"output_dir": "./", "output_postfix": "seg", "output_ext": ".nii.gz", "resample": True, "mode": "bilinear",
                "padding_mode": "border", "dtype": np.float64, "output_dtype": np.float32, "squeeze_end_dims": True,
                "data_root_dir": "", "separate_folder": True, "print_log": True, "writer": "NibabelWriter"}


class PNGSaver(_Saver):
    defaults = {"output_dir": "./", "output_postfix": "seg", "output_ext": ".png", "resample": True, "mode": "nearest",
                "scale": None, "data_root_dir": "", "separate_folder": True, "print_log": True, "writer": "PILWriter"}


def write_nifti(data: Any, file_name: str, affine: Any = None, target_affine: Any = None, resample: bool = True,
                output_spatial_shape: Any = None, mode: str = "bilinear", padding_mode: str = "border", align_corners: bool = False,
                dtype: Any = np.float64, output_dtype: Any = np.float32) -> None:
    """MONAI <= 1.1 ``write_nifti``: a spatial array (no channel) written as NIfTI, resampled to ``target_affine``."""
    from monai.data import NibabelWriter

    writer = NibabelWriter(output_dtype=output_dtype)
    writer.set_data_array(torch.as_tensor(np.asarray(data)), channel_dim=None)
    meta = {"affine": affine if affine is not None else np.eye(4), "original_affine": target_affine, "spatial_shape": output_spatial_shape}
    writer.set_metadata({k: v for k, v in meta.items() if v is not None}, resample=resample and target_affine is not None, mode=mode,
                        padding_mode=padding_mode, align_corners=align_corners, dtype=dtype)
    writer.write(file_name, verbose=False)


def write_png(data: Any, file_name: str, output_spatial_shape: Any = None, mode: str = "bicubic", scale: int | None = None) -> None:
    """MONAI <= 1.1 ``write_png``: a 2D (or HWC) array as PNG, resized first when a shape is given.

    ``scale`` 255 or 65535 clips to [0, 1] and scales to uint8 or uint16; without it, data that is not
    uint8/uint16 is cast to uint8, as before.
    """
    from PIL import Image

    array = np.asarray(data)
    if output_spatial_shape is not None and tuple(output_spatial_shape) != array.shape[:2]:
        from monai.transforms import Resize

        channels_first = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
        resized = np.asarray(Resize(tuple(output_spatial_shape), mode=mode)(channels_first.astype(np.float32)))
        array = resized[0] if array.ndim == 2 else np.moveaxis(resized, 0, -1)
    if scale is not None:
        if scale not in (255, 65535):
            raise ValueError(f"Unsupported scale: {scale}, available options are [255, 65535]")
        array = (np.clip(array, 0.0, 1.0) * scale).astype(np.uint8 if scale == 255 else np.uint16)
    if array.dtype not in (np.uint8, np.uint16):
        array = array.astype(np.uint8)
    Image.fromarray(array).save(file_name)


# ---- handlers ------------------------------------------------------------------------------------


class SegmentationSaver:
    """MONAI <= 0.8 ``SegmentationSaver`` handler: each sample's prediction saved with its image's metadata.

    The engine's output is one dict per sample since MONAI 0.6; ``output_transform`` is applied to
    each sample (the old ``lambda x: x['pred']`` works on one), and the metadata comes from the
    prediction's MetaTensor, else from ``batch_transform`` of the sample's batch entry.
    """

    def __init__(self, output_dir: str = "./", output_postfix: str = "seg", output_ext: str = ".nii.gz", resample: bool = True,
                 mode: str = "nearest", padding_mode: str = "border", scale: int | None = None, dtype: Any = np.float64,
                 output_dtype: Any = np.float32, squeeze_end_dims: bool = True, data_root_dir: str = "", separate_folder: bool = True,
                 print_log: bool = True, batch_transform: Callable = lambda x: x, output_transform: Callable = lambda x: x,
                 name: str | None = None) -> None:
        self.saver = mt.SaveImage(output_dir=output_dir, output_postfix=output_postfix, output_ext=output_ext, resample=resample,
                                  mode=mode, padding_mode=padding_mode, scale=scale, dtype=dtype, output_dtype=output_dtype,
                                  squeeze_end_dims=squeeze_end_dims, data_root_dir=data_root_dir, separate_folder=separate_folder,
                                  print_log=print_log)
        self.batch_transform = batch_transform
        self.output_transform = output_transform

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        batch = engine.state.batch if isinstance(engine.state.batch, list) else [engine.state.batch] * len(outputs)
        for output, item in zip(outputs, batch, strict=True):
            prediction = self.output_transform(output)
            meta = getattr(prediction, "meta", None) or self._meta_of(item)
            self.saver(prediction, meta_data=meta)

    def _meta_of(self, item: Any) -> dict | None:
        try:
            meta = self.batch_transform(item)
        except (KeyError, TypeError, IndexError):
            return None
        return meta if isinstance(meta, dict) else None


class IterationMetric(IgniteMetricHandler):
    """MONAI 0.5 ``IterationMetric(metric_fn, output_transform, device, save_details)``: device is not an argument any more."""

    def __init__(self, metric_fn: Any, output_transform: Callable = lambda x: x, device: Any = None, save_details: bool = True) -> None:
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


# ---- networks and layers -------------------------------------------------------------------------


def TorchVisionFullyConvModel(model_name: str = "resnet18", n_classes: int = 1, pool_size: Sequence[int] = (7, 7), pool_stride: int = 1,  # noqa: N802
                              pretrained: bool = False, num_classes: int | None = None) -> Any:
    """MONAI <= 0.8 ``TorchVisionFullyConvModel``: today's ``TorchVisionFCModel`` with a 1x1-convolution head."""
    from monai.networks.nets import TorchVisionFCModel

    return TorchVisionFCModel(model_name=model_name, num_classes=num_classes if num_classes is not None else n_classes, use_conv=True,
                              pool=("avg", {"kernel_size": tuple(pool_size), "stride": pool_stride}), pretrained=pretrained)


def slice_channels(tensor: Any, *slicevals: Any) -> Any:
    """MONAI <= 1.1 ``slice_channels(t, *s)``: ``t[:, slice(*s)]``."""
    return tensor[:, slice(*slicevals)]


def group_factory(_dim: int) -> type:
    return torch.nn.GroupNorm


def layer_factory(_dim: int) -> type:
    return torch.nn.LayerNorm


def local_response_factory(_dim: int) -> type:
    return torch.nn.LocalResponseNorm


def sync_batch_factory(_dim: int) -> type:
    return torch.nn.SyncBatchNorm


def alpha_dropout_factory(_dim: int) -> type:
    return torch.nn.AlphaDropout


PT_BEFORE_1_7 = False
