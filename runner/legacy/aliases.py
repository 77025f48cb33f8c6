"""The alias table: MONAI names and arguments that Clara Train 4.x configs use and today's MONAI lacks.

Clara Train 4.0 ran on MONAI 0.5 and 4.1 on MONAI 0.8; MONAI has since renamed or removed a
number of the classes and arguments those configs name. Each row maps one of them to today's
equivalent, with the first MONAI release that no longer had the old spelling (read off the
published wheels of every release from 0.5.0 to 1.6.1). :mod:`runner.legacy.config_rewrite`
applies the table; this module is data and pure functions of JSON values, and imports nothing.

To support another rename, add a row; the rewriting code does not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.legacy.monai_names import REMOVED_NAMES, RemovedName

Args = dict[str, Any]
Resolver = Callable[[Any], Any]


@dataclass(frozen=True)
class ClassAlias:
    """A class that was renamed or removed: use ``new`` with these argument changes.

    ``new`` is a class name, or a dotted path (an adapter of ours, when MONAI has no class that
    takes the old arguments); a path is set as the component's ``path`` and the old ``name``
    stays as its label, so validate ``ref`` entries still find it. ``when`` limits a row to
    configs whose arguments are the old ones (MONAI reused the name ``PatchWSIDataset``);
    ``translate`` rewrites argument values that no rename can (``resolve`` gives a value's meaning).
    """

    old: str
    new: str
    since: str
    set_args: Args = field(default_factory=dict)  # added unless the config gives them
    rename_args: dict[str, str] = field(default_factory=dict)
    drop_args: frozenset[str] = frozenset()
    translate: Callable[[Args, Resolver], Args] | None = None
    when: Callable[[Args], bool] | None = None
    note: str = ""

    def applies(self, name: str, args: Args) -> bool:
        return name == self.old and (self.when is None or self.when(args))


@dataclass(frozen=True)
class ArgAlias:
    """An argument renamed (``new``) or removed (``new`` None) in the classes ``applies_to`` accepts."""

    old: str
    new: str | None
    since: str
    applies_to: Callable[[str], bool]
    describe: str  # which classes, for the docs


def _named(*names: str) -> Callable[[str], bool]:
    chosen = frozenset(names)
    return lambda name: name in chosen


# Networks in monai.networks.nets that take ``spatial_dims`` today (MONAI 1.6); the 0.x ones among
# them called it ``dimensions``. Written out so that reading a config imports no MONAI;
# tests/unit/test_aliases.py checks the list against the installed MONAI.
NETWORKS_WITH_SPATIAL_DIMS = frozenset({
    "AHNet", "AHnet", "Ahnet", "AttentionUnet", "AutoEncoder", "AutoencoderKL", "BasicUNet", "BasicUNetPlusPlus", "BasicUnet",
    "BasicUnetPlusPlus", "Basicunet", "BasicunetPlusPlus", "ControlNet", "DenseNet", "DenseNet121", "DenseNet169", "DenseNet201",
    "DenseNet264", "Densenet", "Densenet121", "Densenet169", "Densenet201", "Densenet264", "DiNTS", "DiffusionModelUNet", "DynUNet",
    "DynUnet", "Dynunet", "EfficientNet", "EfficientNetBN", "EfficientNetBNFeatures", "EfficientNetEncoder", "FlexUNet",
    "FlexibleUNet", "GlobalNet", "HighResBlock", "HighResNet", "LocalNet", "MaskedAutoEncoderViT", "MedNeXt", "MedNext",
    "MultiScalePatchDiscriminator", "NaViT", "PatchDiscriminator", "PatchMerging", "PatchMergingV2", "RegUNet", "ResNet",
    "ResNetBlock", "ResNetBottleneck", "ResNetEncoder", "ResNetFeatures", "SENet", "SEnet", "SPADEAutoencoderKL",
    "SPADEDiffusionModelUNet", "SPADENet", "SegResNet", "SegResNetDS", "SegResNetDS2", "SegResNetVAE", "Senet", "SwinUNETR",
    "TopologyConstruction", "TopologyInstance", "TopologySearch", "UNETR", "UNet", "Unet", "VNet", "VQVAE", "VarAutoEncoder",
    "ViT", "ViTAutoEnc", "VoxelMorph", "VoxelMorphUNet", "basicunet", "basicunetplusplus", "densenet121", "densenet169",
    "densenet201", "densenet264",
})
# Names of the removed-name table that today's component lookup (MONAI, torch, ignite) still finds:
# a config naming one gets today's class (PatchWSIDataset only with the old arguments, below).
# Checked against MONAI by tests/unit/test_aliases.py.
STILL_FOUND_BY_NAME = frozenset({
    "AddCoordinateChannels", "AddCoordinateChannelsD", "AddCoordinateChannelsDict", "AddCoordinateChannelsd", "BatchInverseTransform",
    "DecollateD", "DecollateDict", "Decollated", "IterationMetric", "PatchWSIDataset", "ProbMapProducer", "SmartCacheDataset",
    "WSIReader", "ahnet", "densenet", "dice", "dynunet", "senet", "unet",
})

_OLD_WSI_ARGS = ("region_size", "grid_shape", "image_reader_name")
PATHOLOGY = "runner.legacy.pathology"


def _torchvision_fully_conv(args: Args, resolve: Resolver) -> Args:
    """TorchVisionFullyConvModel(n_classes, pool_size, pool_stride) -> TorchVisionFCModel(num_classes, use_conv, pool)."""
    translated = {k: v for k, v in args.items() if k not in ("n_classes", "pool_size", "pool_stride")}
    translated.setdefault("num_classes", args.get("n_classes", 1))
    translated["use_conv"] = True
    translated["pool"] = ["avg", {"kernel_size": args.get("pool_size", [7, 7]), "stride": args.get("pool_stride", 1)}]
    return translated


def _one_based_channels(args: Args, resolve: Resolver) -> Args:
    """AddCoordinateChannels(spatial_channels) counted channels from 1 (0 was the channel); spatial_dims counts from 0."""
    translated = {k: v for k, v in args.items() if k != "spatial_channels"}
    channels = resolve(args["spatial_channels"])
    translated["spatial_dims"] = [int(c) - 1 for c in channels] if isinstance(channels, list) else channels
    return translated


CLASS_ALIASES: tuple[ClassAlias, ...] = (
    ClassAlias("AddChanneld", "EnsureChannelFirstd", "1.3.0", set_args={"channel_dim": "no_channel"}),
    ClassAlias("AddChannel", "EnsureChannelFirst", "1.3.0", set_args={"channel_dim": "no_channel"}),
    ClassAlias("AsChannelFirstd", "EnsureChannelFirstd", "1.3.0", set_args={"channel_dim": -1}),
    ClassAlias("AsChannelFirst", "EnsureChannelFirst", "1.3.0", set_args={"channel_dim": -1}),
    ClassAlias("LoadNiftid", "LoadImaged", "0.5.0", set_args={"reader": "NibabelReader"}),
    ClassAlias("LoadNifti", "LoadImage", "0.5.0", set_args={"reader": "NibabelReader"}),
    ClassAlias("LoadPNGd", "LoadImaged", "0.5.0", set_args={"reader": "PILReader"}),
    ClassAlias("LoadNumpyd", "LoadImaged", "0.5.0", set_args={"reader": "NumpyReader"}),
    ClassAlias("SplitChanneld", "SplitDimd", "1.3.0", set_args={"dim": 0, "keepdim": True}, rename_args={"channel_dim": "dim"}),
    ClassAlias("SplitChannel", "SplitDim", "1.3.0", set_args={"dim": 0, "keepdim": True}, rename_args={"channel_dim": "dim"}),
    ClassAlias("TorchVisionFullyConvModel", "TorchVisionFCModel", "0.9.0", translate=_torchvision_fully_conv,
               note="num_classes=n_classes, use_conv=true, pool=[\"avg\", {kernel_size: pool_size, stride: pool_stride}]"),
    ClassAlias("AddCoordinateChannelsd", "AddCoordinateChannelsd", "1.2.0", translate=_one_based_channels,
               when=lambda a: "spatial_channels" in a, note="spatial_dims = spatial_channels - 1"),
    ClassAlias("AddCoordinateChannels", "AddCoordinateChannels", "1.2.0", translate=_one_based_channels,
               when=lambda a: "spatial_channels" in a, note="spatial_dims = spatial_channels - 1"),
    ClassAlias("PatchWSIDataset", f"{PATHOLOGY}.PatchWSIDataset", "1.2.0", when=lambda a: any(k in a for k in _OLD_WSI_ARGS),
               note="monai.data.PatchWSIDataset reads one patch per item; mmar's reads the region's grid of patches, as 0.8 did"),
    ClassAlias("SmartCachePatchWSIDataset", f"{PATHOLOGY}.SmartCachePatchWSIDataset", "1.2.0",
               note="SmartCacheDataset over mmar's PatchWSIDataset, as 0.8 did"),
)

_METRIC_HANDLERS = _named("MeanDice", "HausdorffDistance", "SurfaceDistance", "ROCAUC", "ConfusionMatrix")
_META_KEY_TRANSFORMS = _named("Spacingd", "Orientationd", "RandSpatialCropSamplesd", "RandWeightedCropd", "RandCropByPosNegLabeld",
                              "RandCropByLabelClassesd")
_DEEPGROW_BATCHED = _named("FindDiscrepancyRegionsd", "AddRandomGuidanced", "AddGuidanceSignald")

ARG_ALIASES: tuple[ArgAlias, ...] = (
    ArgAlias("dimensions", "spatial_dims", "1.2.0", NETWORKS_WITH_SPATIAL_DIMS.__contains__, "networks (UNet, BasicUNet, HighResNet, ...)"),
    ArgAlias("dimensions", "spatial_dims", "1.2.0", _named("AddGuidanceFromPointsd"), "deepgrow AddGuidanceFromPointsd"),
    ArgAlias("post_transform", "postprocessing", "0.6.0", _named("SupervisedTrainer", "SupervisedEvaluator", "EnsembleEvaluator"),
             "SupervisedTrainer, SupervisedEvaluator, EnsembleEvaluator"),
    ArgAlias("ce_weight", "weight", "1.4.0", _named("DiceCELoss"), "DiceCELoss (weight now weights the Dice part too)"),
    ArgAlias("focal_weight", "weight", "1.4.0", _named("DiceFocalLoss"), "DiceFocalLoss (weight now weights the Dice part too)"),
    ArgAlias("as_tensor_output", None, "1.0.0",
             _named("RandAffined", "RandAffine", "Affined", "Affine", "Rand2DElasticd", "Rand3DElasticd", "Rand2DElastic", "Rand3DElastic",
                    "RandGibbsNoise", "GibbsNoise", "KSpaceSpikeNoise", "RandKSpaceSpikeNoise"),
             "RandAffine(d), Affine(d), Rand2DElastic(d), Rand3DElastic(d), (Rand)GibbsNoise, (Rand)KSpaceSpikeNoise"),
    ArgAlias("batched", None, "0.6.0", _DEEPGROW_BATCHED, "deepgrow FindDiscrepancyRegionsd, AddRandomGuidanced, AddGuidanceSignald"),
    ArgAlias("meta_keys", None, "1.2.0", _META_KEY_TRANSFORMS, "Spacingd, Orientationd, RandCropByPosNegLabeld and other croppers"),
    ArgAlias("meta_key_postfix", None, "1.2.0", _META_KEY_TRANSFORMS, "Spacingd, Orientationd, RandCropByPosNegLabeld and other croppers"),
    ArgAlias("center_coord_key", None, "1.2.0", _named("RandWeightedCropd"), "RandWeightedCropd"),
    ArgAlias("device", None, "0.6.0", _METRIC_HANDLERS, "MeanDice, HausdorffDistance, SurfaceDistance, ROCAUC, ConfusionMatrix handlers"),
    ArgAlias("logger_handler", None, "0.8.1", _named("StatsHandler", "DataStats", "DataStatsd"), "StatsHandler, DataStats(d)"),
    ArgAlias("epoch_interval", "epoch_log", "1.3.0", _named("TensorBoardStatsHandler"), "TensorBoardStatsHandler"),
    ArgAlias("iteration_interval", "iteration_log", "1.3.0", _named("TensorBoardStatsHandler"), "TensorBoardStatsHandler"),
    ArgAlias("n_classes", "num_classes", "1.0.0", _named("TorchVisionFCModel", "NetAdapter", "ResNet"), "TorchVisionFCModel, NetAdapter, ResNet"),
    ArgAlias("ndim", "spatial_dims", "1.0.0", _named("LocalNormalizedCrossCorrelationLoss"), "LocalNormalizedCrossCorrelationLoss"),
    ArgAlias("pos_embed", "proj_type", "1.4.0", _named("UNETR", "ViT", "ViTAutoEnc"), "UNETR, ViT, ViTAutoEnc"),
    ArgAlias("img_size", None, "1.5.0", _named("SwinUNETR"), "SwinUNETR"),
    ArgAlias("reduction", None, "1.2.0", _named("ContrastiveLoss"), "ContrastiveLoss"),
    ArgAlias("dataset", "data", "0.8.1", _named("GridPatchDataset", "PatchDataset"), "GridPatchDataset, PatchDataset"),
    ArgAlias("save_batch", None, "0.6.0", _named("SaveImage", "SaveImaged"), "SaveImage(d)"),
    ArgAlias("num_workers", None, "0.7.0", _named("Invertd"), "Invertd"),
)
# In a config that inverts its pre-transforms (Invertd), ToTensord's inverse hands numpy to the spatial
# inverses before it, which refuse it since MONAI 0.9 (MetaTensors); EnsureTyped converts the same way
# and is skipped by the inversion. Applied only to configs that hold an Invertd.
INVERSION_SAFE_TO_TENSOR = {"ToTensord": "EnsureTyped", "ToTensorD": "EnsureTyped", "ToTensorDict": "EnsureTyped"}
INVERTERS = frozenset({"Invertd", "InvertD", "InvertDict", "TransformInverter"})
# AsDiscrete(d) merged several arguments into two; the rewrite reduces each pair to its meaning.
AS_DISCRETE = ("AsDiscreted", "AsDiscrete", "AsDiscreteD", "AsDiscreteDict")
AS_DISCRETE_ROWS = (
    ("n_classes", "to_onehot", "1.0.0", "to_onehot=True, n_classes=N becomes to_onehot=N"),
    ("num_classes", "to_onehot", "1.0.0", "to_onehot=True, num_classes=N becomes to_onehot=N"),
    ("threshold_values", "threshold", "1.0.0", "threshold_values=True, logit_thresh=T becomes threshold=T"),
    ("logit_thresh", "threshold", "1.0.0", "threshold_values=True, logit_thresh=T becomes threshold=T"),
)
# Handlers MONAI removed whose job is now a post-transform of the same engine (moved there).
HANDLER_TO_POST_TRANSFORM = {"SegmentationSaver": ("SaveImaged", "0.9.0"), "TransformInverter": ("Invertd", "0.7.0")}
# SegmentationSaver's defaults where SaveImaged's differ (SaveImaged: postfix "trans", no resampling).
SEGMENTATION_SAVER_DEFAULTS = {"output_postfix": "seg", "resample": True, "mode": "nearest"}
# output_transform lambdas written for batched output; MONAI >= 0.6 decollates it into a list of dicts.
BATCHED_ONE = re.compile(r"""^\s*lambda\s+(\w+)\s*:\s*\1\s*\[\s*(['"])(\w+)\2\s*\]\s*$""")
BATCHED_TUPLE = re.compile(r"""^\s*lambda\s+(\w+)\s*:\s*\(\s*\1\s*\[\s*(['"])(\w+)\2\s*\]\s*,\s*\1\s*\[\s*(['"])(\w+)\4\s*\]\s*\)\s*$""")


def removed_class(name: str) -> RemovedName | None:
    """A config's bare ``name`` that MONAI removed and the component lookup no longer finds (see STILL_FOUND_BY_NAME)."""
    if name in STILL_FOUND_BY_NAME or any(alias.old == name for alias in CLASS_ALIASES):
        return None
    return next((row for row in REMOVED_NAMES if row.name == name), None)


def alias_table_rows() -> list[tuple[str, str, str, str]]:
    """(old, new, since, where) for every row, for the docs."""
    rows = []
    for alias in CLASS_ALIASES:
        extra = alias.note or ", ".join(f"{k}={v!r}" for k, v in alias.set_args.items())
        renamed = ", ".join(f"{old}->{new}" for old, new in alias.rename_args.items())
        rows.append((alias.old, alias.new, alias.since, "class" + (f": {extra}" if extra else "") + (f"; {renamed}" if renamed else "")))
    rows += [(f"{r.old}=", f"{r.new}=" if r.new else "(removed)", r.since, r.describe) for r in ARG_ALIASES]
    rows += [(f"{old}=", f"{new}=", since, f"AsDiscrete(d): {how}") for old, new, since, how in AS_DISCRETE_ROWS]
    rows += [(old, new, "0.9.0", "configs with an Invertd: ToTensord's inverse gives numpy, which the spatial inverses refuse")
             for old, new in INVERSION_SAFE_TO_TENSOR.items()]
    rows += [(f"handler {old}", f"post-transform {new}", since, "moved to the section's post_transforms")
             for old, (new, since) in HANDLER_TO_POST_TRANSFORM.items()]
    rows += [("output_transform: lambda x: x['k']", "#monai.handlers.from_engine(['k'], first=True)", "0.6.0", "batched-output lambdas"),
             ("output_transform: lambda x: (x['a'], x['b'])", "#monai.handlers.from_engine(['a', 'b'])", "0.6.0", "batched-output lambdas")]
    return rows
