"""The table of MONAI names that Clara-era custom code imports and MONAI has removed since 0.5.

Clara Train 4.0 ran on MONAI 0.5 and 4.1 on MONAI 0.8. Every public name those versions exported
and MONAI 1.6 no longer does is a row: where old code imported it from, the first MONAI release
without it, and today's equivalent. The versions were read off the published wheels of every
release from 0.5.0 to 1.6.1 (the CHANGELOG stops at 0.9.1 and disagrees with the wheels in places).

A successor is a dotted path: MONAI's own class or function when the old call means the same
there, else an adapter in :mod:`runner.legacy.successors` that takes the old arguments. A row with
no successor says what to use instead; ``mmar check`` reports its imports as errors. The table is
data and imports nothing: :mod:`runner.legacy.import_shim` serves it while an MMAR runs,
:mod:`runner.legacy.custom_imports` checks and rewrites custom/ code with it.
"""

from __future__ import annotations

from dataclasses import dataclass

ADAPTERS = "runner.legacy.successors"


@dataclass(frozen=True)
class RemovedName:
    """A public MONAI name of 0.5-0.8 that MONAI 1.6 lacks (or that now means something else)."""

    name: str
    modules: tuple[str, ...]  # where 0.5-0.8 code imported it from
    removed: str  # the first MONAI release without it
    successor: str | None  # dotted path of today's equivalent; None: none
    note: str = ""  # what differs, or what to use when there is no successor

    @property
    def adapted(self) -> bool:
        """The successor is our adapter taking the old arguments, not a MONAI name used as is."""
        return bool(self.successor and self.successor.startswith(ADAPTERS + "."))

    def qualified(self) -> str:
        return f"{self.modules[0]}.{self.name}"


def _row(name: str, modules: str, removed: str, successor: str | None, note: str = "") -> RemovedName:
    return RemovedName(name, tuple(modules.split()), removed, successor, note)


_T = "monai.transforms"
_TU_A, _TU_D = "monai.transforms.utility.array", "monai.transforms.utility.dictionary"
_PATHOLOGY_DATA = "monai.apps.pathology monai.apps.pathology.datasets monai.apps.pathology.data monai.apps.pathology.data.datasets"
_PATHOLOGY_SPATIAL = ("monai.apps.pathology.transforms monai.apps.pathology.transforms.spatial "
                      "monai.apps.pathology.transforms.spatial.array monai.apps.pathology.transforms.spatial.dictionary")

REMOVED_NAMES: tuple[RemovedName, ...] = (
    # ---- metrics
    _row("compute_meandice", "monai.metrics monai.metrics.meandice", "1.2.0", "monai.metrics.compute_dice",
         "same arguments (y_pred, y, include_background); NaN for an empty ground truth, as before"),
    _row("compute_percent_hausdorff_distance", "monai.metrics monai.metrics.hausdorff_distance", "1.5.0", None,
         "use monai.metrics.compute_hausdorff_distance(..., percentile=p) on the masks"),
    # ---- transforms: channels
    _row("AddChannel", f"{_T} {_TU_A}", "1.3.0", f"{ADAPTERS}.AddChannel", "EnsureChannelFirst(channel_dim='no_channel')"),
    _row("AddChanneld", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.AddChanneld", "EnsureChannelFirstd(keys, channel_dim='no_channel')"),
    _row("AddChannelD", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.AddChanneld", "EnsureChannelFirstd(keys, channel_dim='no_channel')"),
    _row("AddChannelDict", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.AddChanneld", "EnsureChannelFirstd(keys, channel_dim='no_channel')"),
    _row("AsChannelFirst", f"{_T} {_TU_A}", "1.3.0", f"{ADAPTERS}.AsChannelFirst", "EnsureChannelFirst(channel_dim=-1)"),
    _row("AsChannelFirstd", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.AsChannelFirstd", "EnsureChannelFirstd(keys, channel_dim=-1)"),
    _row("AsChannelFirstD", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.AsChannelFirstd", "EnsureChannelFirstd(keys, channel_dim=-1)"),
    _row("AsChannelFirstDict", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.AsChannelFirstd", "EnsureChannelFirstd(keys, channel_dim=-1)"),
    _row("SplitChannel", f"{_T} {_TU_A}", "1.3.0", f"{ADAPTERS}.SplitChannel", "SplitDim(dim=channel_dim, keepdim=True)"),
    _row("SplitChanneld", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.SplitChanneld", "SplitDimd(keys, dim=channel_dim, keepdim=True)"),
    _row("SplitChannelD", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.SplitChanneld", "SplitDimd(keys, dim=channel_dim, keepdim=True)"),
    _row("SplitChannelDict", f"{_T} {_TU_D}", "1.3.0", f"{ADAPTERS}.SplitChanneld", "SplitDimd(keys, dim=channel_dim, keepdim=True)"),
    _row("AddCoordinateChannels", "monai.transforms.spatial.array", "0.9.0", f"{ADAPTERS}.AddCoordinateChannels",
         "moved to monai.transforms; spatial_channels (1-based) became spatial_dims (0-based)"),
    _row("AddCoordinateChannelsd", "monai.transforms.spatial.dictionary", "0.9.0", f"{ADAPTERS}.AddCoordinateChannelsd",
         "moved to monai.transforms; spatial_channels (1-based) became spatial_dims (0-based)"),
    _row("AddCoordinateChannelsD", "monai.transforms.spatial.dictionary", "0.9.0", f"{ADAPTERS}.AddCoordinateChannelsd",
         "moved to monai.transforms; spatial_channels (1-based) became spatial_dims (0-based)"),
    _row("AddCoordinateChannelsDict", "monai.transforms.spatial.dictionary", "0.9.0", f"{ADAPTERS}.AddCoordinateChannelsd",
         "moved to monai.transforms; spatial_channels (1-based) became spatial_dims (0-based)"),
    # ---- transforms: conversions, inversion, decollation
    _row("convert_to_numpy", _T, "0.7.0", "monai.utils.convert_to_numpy", "moved to monai.utils"),
    _row("convert_to_tensor", _T, "0.7.0", "monai.utils.convert_to_tensor", "moved to monai.utils"),
    _row("tensor_to_numpy", f"{_T} monai.transforms.utils", "0.7.0", "monai.utils.convert_to_numpy", "convert_to_numpy(x)"),
    _row("Decollated", "monai.transforms.post.dictionary", "0.6.0", f"{ADAPTERS}.Decollated",
         "monai.transforms.Decollated; the batch size is inferred (batch_size is ignored)"),
    _row("DecollateD", "monai.transforms.post.dictionary", "0.6.0", f"{ADAPTERS}.Decollated", "monai.transforms.Decollated"),
    _row("DecollateDict", "monai.transforms.post.dictionary", "0.6.0", f"{ADAPTERS}.Decollated", "monai.transforms.Decollated"),
    _row("BatchInverseTransform", "monai.data monai.data.inverse_batch_transform", "0.6.0", "monai.transforms.BatchInverseTransform",
         "moved to monai.transforms"),
    _row("convert_inverse_interp_mode", f"{_T} monai.transforms.utils", "0.9.1", None, "Invertd(nearest_interp=True) does its job"),
    _row("InverseKeys", "monai.utils monai.utils.enums", "1.2.0", "monai.utils.TraceKeys", "same members and values"),
    # ---- transforms: typing aliases
    _row("NumpyPadModeSequence", f"{_T} monai.transforms.croppad.dictionary monai.transforms.spatial.dictionary", "0.9.0",
         "monai.config.SequenceStr", "a typing alias"),
    _row("PadModeSequence", f"{_T} monai.transforms.croppad.dictionary monai.transforms.spatial.dictionary", "0.9.1",
         "monai.config.SequenceStr", "a typing alias"),
    _row("GridSampleModeSequence", "monai.transforms.spatial.dictionary", "0.9.1", "monai.config.SequenceStr", "a typing alias"),
    _row("GridSamplePadModeSequence", "monai.transforms.spatial.dictionary", "0.9.1", "monai.config.SequenceStr", "a typing alias"),
    _row("InterpolateModeSequence", "monai.transforms.spatial.dictionary", "0.9.1", "monai.config.SequenceStr", "a typing alias"),
    # ---- pathology transforms and datasets
    _row("SplitOnGrid", _PATHOLOGY_SPATIAL, "1.2.0", f"{ADAPTERS}.SplitOnGrid", "monai.transforms.GridSplit(grid=grid_size, size=patch_size), the patches stacked"),
    _row("SplitOnGridd", _PATHOLOGY_SPATIAL, "1.2.0", f"{ADAPTERS}.SplitOnGridd", "GridSplit(grid=grid_size, size=patch_size) on each key, the patches stacked in place"),
    _row("SplitOnGridD", _PATHOLOGY_SPATIAL, "1.2.0", f"{ADAPTERS}.SplitOnGridd", "GridSplit(grid=grid_size, size=patch_size) on each key, the patches stacked in place"),
    _row("SplitOnGridDict", _PATHOLOGY_SPATIAL, "1.2.0", f"{ADAPTERS}.SplitOnGridd", "GridSplit(grid=grid_size, size=patch_size) on each key, the patches stacked in place"),
    _row("TileOnGrid", _PATHOLOGY_SPATIAL, "1.2.0", None, "nearest: monai.transforms.GridPatch / RandGridPatch (different tiling)"),
    _row("TileOnGridd", _PATHOLOGY_SPATIAL, "1.2.0", None, "nearest: monai.transforms.GridPatchd / RandGridPatchd (different tiling)"),
    _row("TileOnGridD", _PATHOLOGY_SPATIAL, "1.2.0", None, "nearest: monai.transforms.GridPatchd / RandGridPatchd (different tiling)"),
    _row("TileOnGridDict", _PATHOLOGY_SPATIAL, "1.2.0", None, "nearest: monai.transforms.GridPatchd / RandGridPatchd (different tiling)"),
    _row("PatchWSIDataset", _PATHOLOGY_DATA, "1.2.0", "runner.legacy.pathology.PatchWSIDataset",
         "monai.data.PatchWSIDataset reads one patch per item; this one reads the region and splits it into the grid, as 0.8 did"),
    _row("SmartCachePatchWSIDataset", _PATHOLOGY_DATA, "1.2.0", "runner.legacy.pathology.SmartCachePatchWSIDataset",
         "monai.data.SmartCacheDataset over the PatchWSIDataset above, shuffle off, as 0.8 did"),
    _row("MaskedInferenceWSIDataset", _PATHOLOGY_DATA, "1.2.0", None,
         "monai.data.MaskedPatchWSIDataset computes its own tissue mask and ignores a supplied one"),
    _row("SmartCacheDataset", "monai.apps.pathology", "0.7.0", "monai.data.SmartCacheDataset", "the same class, from monai.data"),
    _row("ProbMapProducer", "monai.apps.pathology monai.apps.pathology.handlers monai.apps.pathology.handlers.prob_map_producer", "1.2.0",
         None, "monai.handlers.ProbMapProducer reads metadata only monai.data.MaskedPatchWSIDataset provides"),
    # ---- data: savers, writers, readers, utilities
    _row("NiftiSaver", "monai.data monai.data.nifti_saver", "1.2.0", f"{ADAPTERS}.NiftiSaver",
         "monai.transforms.SaveImage with the NiftiSaver defaults (postfix 'seg', resample on); save() and save_batch() kept"),
    _row("PNGSaver", "monai.data monai.data.png_saver", "1.2.0", f"{ADAPTERS}.PNGSaver",
         "monai.transforms.SaveImage with the PNGSaver defaults (postfix 'seg', .png); save() and save_batch() kept"),
    _row("write_nifti", "monai.data monai.data.nifti_writer", "1.2.0", f"{ADAPTERS}.write_nifti", "monai.data.NibabelWriter"),
    _row("write_png", "monai.data monai.data.png_writer", "1.2.0", f"{ADAPTERS}.write_png", "monai.data.PILWriter"),
    _row("WSIReader", "monai.data.image_reader", "1.2.0", None, "monai.data.WSIReader(backend=...): get_data has no grid_shape/patch_size"),
    _row("rep_scalar_to_batch", "monai.data monai.data.utils", "0.8.0", None, "decollate_batch replicates scalars itself"),
    _row("set_visible_devices", "monai.config monai.config.deviceconfig", "0.6.0", None, "set CUDA_VISIBLE_DEVICES"),
    _row("IgniteInfo", "monai.config monai.config.deviceconfig", "1.6.1", "monai.utils.IgniteInfo", "moved to monai.utils"),
    # ---- engines and handlers
    _row("BaseWorkflow", "monai.engines monai.engines.workflow", "1.0.0", None, "subclass monai.engines.Workflow"),
    _row("GanKeys", "monai.engines", "1.0.0", "monai.utils.GanKeys", "moved to monai.utils"),
    _row("create_multigpu_supervised_trainer", "monai.engines monai.engines.multi_gpu_supervised_trainer", "1.3.0", None,
         "monai.engines.SupervisedTrainer (mmar train --nproc N for several GPUs)"),
    _row("create_multigpu_supervised_evaluator", "monai.engines monai.engines.multi_gpu_supervised_trainer", "1.3.0", None,
         "monai.engines.SupervisedEvaluator"),
    _row("SegmentationSaver", "monai.handlers monai.handlers.segmentation_saver", "0.9.0", f"{ADAPTERS}.SegmentationSaver",
         "a handler saving each sample's prediction with monai.transforms.SaveImage and the old defaults"),
    _row("TransformInverter", "monai.handlers monai.handlers.transform_inverter", "0.7.0", None,
         "the monai.transforms.Invertd post-transform (in a config, mmar moves the handler there itself)"),
    _row("IterationMetric", "monai.handlers monai.handlers.iteration_metric", "0.6.0", f"{ADAPTERS}.IterationMetric",
         "monai.handlers.IgniteMetricHandler without device"),
    _row("IgniteMetric", "monai.handlers monai.handlers.ignite_metric", "1.4.0", "monai.handlers.IgniteMetricHandler", "renamed"),
    _row("evenly_divisible_all_gather", "monai.handlers monai.handlers.utils", "0.7.0", "monai.utils.evenly_divisible_all_gather",
         "moved to monai.utils"),
    _row("string_list_all_gather", "monai.handlers monai.handlers.utils", "0.7.0", "monai.utils.string_list_all_gather", "moved to monai.utils"),
    # ---- networks, layers, losses
    _row("TorchVisionFullyConvModel", "monai.networks.nets monai.networks.nets.torchvision_fc", "0.9.0", f"{ADAPTERS}.TorchVisionFullyConvModel",
         "monai.networks.nets.TorchVisionFCModel(num_classes=n_classes, use_conv=True, pool=('avg', ...)); needs torchvision"),
    _row("DynUNetV1", "monai.networks.nets.dynunet_v1", "0.8.0", "monai.networks.nets.DynUNet", "the same constructor"),
    _row("DynUnetV1", "monai.networks.nets.dynunet_v1", "0.8.0", "monai.networks.nets.DynUNet", "the same constructor"),
    _row("DynunetV1", "monai.networks.nets.dynunet_v1", "0.8.0", "monai.networks.nets.DynUNet", "the same constructor"),
    _row("get_conv1", "monai.networks.nets.resnet", "0.9.0", None, "an internal helper of ResNet"),
    _row("slice_channels", "monai.networks monai.networks.utils", "1.2.0", f"{ADAPTERS}.slice_channels", "tensor[:, slice(*slicevals)]"),
    _row("get_acti_layer", "monai.networks.blocks.dynunet_block", "0.6.0", "monai.networks.layers.get_act_layer", "renamed"),
    _row("SUPPORTED_EMBEDDING_TYPES", "monai.networks.blocks.patchembedding", "1.3.0",
         "monai.networks.blocks.patchembedding.SUPPORTED_PATCH_EMBEDDING_TYPES", "renamed"),
    _row("group_factory", "monai.networks.layers.factories", "1.3.1", f"{ADAPTERS}.group_factory", "Norm['group']: torch.nn.GroupNorm"),
    _row("layer_factory", "monai.networks.layers.factories", "1.3.1", f"{ADAPTERS}.layer_factory", "Norm['layer']: torch.nn.LayerNorm"),
    _row("local_response_factory", "monai.networks.layers.factories", "1.3.1", f"{ADAPTERS}.local_response_factory",
         "Norm['localresponse']: torch.nn.LocalResponseNorm"),
    _row("sync_batch_factory", "monai.networks.layers.factories", "1.3.1", f"{ADAPTERS}.sync_batch_factory", "Norm['syncbatch']: torch.nn.SyncBatchNorm"),
    _row("alpha_dropout_factory", "monai.networks.layers.factories", "1.3.1", f"{ADAPTERS}.alpha_dropout_factory",
         "Dropout['alphadropout']: torch.nn.AlphaDropout"),
    # lowercase aliases of 0.5-0.7: the names still import, as the submodule; only a source rewrite can fix them
    _row("unet", "monai.networks.nets monai.networks.nets.unet", "0.8.0", "monai.networks.nets.UNet",
         "now names the submodule monai.networks.nets.unet; write UNet"),
    _row("densenet", "monai.networks.nets monai.networks.nets.densenet", "0.8.0", "monai.networks.nets.DenseNet",
         "now names the submodule; write DenseNet"),
    _row("senet", "monai.networks.nets monai.networks.nets.senet", "0.8.0", "monai.networks.nets.SENet", "now names the submodule; write SENet"),
    _row("ahnet", "monai.networks.nets monai.networks.nets.ahnet", "0.8.0", "monai.networks.nets.AHNet", "now names the submodule; write AHNet"),
    _row("dynunet", "monai.networks.nets monai.networks.nets.dynunet", "0.8.0", "monai.networks.nets.DynUNet",
         "now names the submodule; write DynUNet"),
    _row("dice", "monai.losses monai.losses.dice", "0.8.0", "monai.losses.DiceLoss", "now names the submodule; write DiceLoss"),
    # ---- utils
    _row("Activation", "monai.utils monai.utils.enums", "0.7.0", None, "pass act= as a string ('relu', 'prelu', ...)"),
    _row("Normalization", "monai.utils monai.utils.enums", "0.7.0", None, "pass norm= as a string ('batch', 'instance', ...)"),
    _row("PT_BEFORE_1_7", "monai.utils monai.utils.module", "0.8.0", f"{ADAPTERS}.PT_BEFORE_1_7", "False on every torch MONAI supports"),
    _row("alias", "monai.utils monai.utils.aliases", "1.4.0", None, "the global alias registry is gone; import classes directly"),
    _row("resolve_name", "monai.utils monai.utils.aliases", "1.4.0", None, "the global alias registry is gone; import classes directly"),
    _row("export", "monai.utils monai.utils.module", "1.4.0", None, "the global alias registry is gone"),
    _row("GlobalAliases", "monai.utils.aliases", "1.4.0", None, "the global alias registry is gone"),
    _row("alias_lock", "monai.utils.aliases", "1.4.0", None, "the global alias registry is gone"),
    _row("deprecated", "monai.utils.deprecated", "0.8.0", "monai.utils.deprecated", "module monai.utils.deprecate_utils"),
    _row("deprecated_arg", "monai.utils.deprecated", "0.8.0", "monai.utils.deprecated_arg", "module monai.utils.deprecate_utils"),
    _row("DeprecatedError", "monai.utils.deprecated", "0.8.0", "monai.utils.DeprecatedError", "module monai.utils.deprecate_utils"),
    _row("warn_deprecated", "monai.utils.deprecated", "0.8.0", "monai.utils.deprecate_utils.warn_deprecated", "module monai.utils.deprecate_utils"),
    _row("dtype_numpy_to_torch", "monai.utils.misc", "0.7.0", "monai.utils.dtype_numpy_to_torch", "moved to monai.utils.type_conversion"),
    _row("dtype_torch_to_numpy", "monai.utils.misc", "0.7.0", "monai.utils.dtype_torch_to_numpy", "moved to monai.utils.type_conversion"),
    _row("has_option", "monai.utils.module", "0.6.0", "monai.utils.has_option", "moved to monai.utils.misc"),
    # ---- visualize
    _row("add_animated_gif_no_channels", "monai.visualize monai.visualize.img2tensorboard", "0.8.0", None,
         "monai.visualize.add_animated_gif with a channel dimension added"),
    _row("default_upsampler", "monai.visualize.occlusion_sensitivity", "1.3.0", "monai.visualize.default_upsampler", "moved to monai.visualize"),
    # ---- apps
    _row("ClickRatioAddRandomGuidanced", "monai.apps.deepedit.transforms", "0.9.0", None, "DeepEdit was rewritten (AddRandomGuidanceDeepEditd)"),
    _row("ResizeGuidanceCustomd", "monai.apps.deepedit.transforms", "0.9.0", None,
         "DeepEdit was rewritten (ResizeGuidanceMultipleLabelDeepEditd)"),
    # ---- loaders removed in 0.5.0 (still in 0.4-era code)
    _row("LoadNifti", f"{_T} monai.transforms.io.array", "0.5.0", f"{ADAPTERS}.LoadNifti", "LoadImage(reader='NibabelReader')"),
    _row("LoadNiftid", f"{_T} monai.transforms.io.dictionary", "0.5.0", f"{ADAPTERS}.LoadNiftid", "LoadImaged(keys, reader='NibabelReader')"),
    _row("LoadPNG", f"{_T} monai.transforms.io.array", "0.5.0", f"{ADAPTERS}.LoadPNG", "LoadImage(reader='PILReader')"),
    _row("LoadPNGd", f"{_T} monai.transforms.io.dictionary", "0.5.0", f"{ADAPTERS}.LoadPNGd", "LoadImaged(keys, reader='PILReader')"),
    _row("LoadNumpy", f"{_T} monai.transforms.io.array", "0.5.0", f"{ADAPTERS}.LoadNumpy", "LoadImage(reader='NumpyReader')"),
    _row("LoadNumpyd", f"{_T} monai.transforms.io.dictionary", "0.5.0", f"{ADAPTERS}.LoadNumpyd", "LoadImaged(keys, reader='NumpyReader')"),
)

# (module, name) pairs that still import today, as a submodule: the shim cannot intercept them, so check reports them.
SHADOWED_BY_SUBMODULE = frozenset({("monai.networks.nets", "unet"), ("monai.networks.nets", "densenet"), ("monai.networks.nets", "senet"),
                                   ("monai.networks.nets", "ahnet"), ("monai.networks.nets", "dynunet"), ("monai.losses", "dice")})
# Module paths that no longer exist at all: the shim provides them while an MMAR runs.
REMOVED_MODULES = frozenset({
    "monai.handlers.segmentation_saver", "monai.handlers.transform_inverter", "monai.handlers.iteration_metric",
    "monai.data.nifti_saver", "monai.data.png_saver", "monai.data.nifti_writer", "monai.data.png_writer",
    "monai.data.inverse_batch_transform", "monai.engines.multi_gpu_supervised_trainer", "monai.networks.nets.dynunet_v1",
    "monai.utils.aliases", "monai.utils.deprecated", "monai.apps.pathology.datasets", "monai.apps.pathology.data",
    "monai.apps.pathology.data.datasets", "monai.apps.pathology.handlers.prob_map_producer", "monai.apps.pathology.transforms.spatial",
    "monai.apps.pathology.transforms.spatial.array", "monai.apps.pathology.transforms.spatial.dictionary",
})


def rows_in(module: str) -> dict[str, RemovedName]:
    """The removed names old code imported from ``module``, by name."""
    return _BY_MODULE.get(module, {})


def find_row(name: str) -> RemovedName | None:
    """The row for a bare name (a config's ``"name"``), if MONAI removed a name spelt so."""
    return _BY_NAME.get(name)


_BY_MODULE: dict[str, dict[str, RemovedName]] = {}
for _r in REMOVED_NAMES:
    for _m in _r.modules:
        _BY_MODULE.setdefault(_m, {})[_r.name] = _r
_BY_NAME: dict[str, RemovedName] = {}
for _r in REMOVED_NAMES:
    _BY_NAME.setdefault(_r.name, _r)
