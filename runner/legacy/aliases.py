"""The alias table: MONAI names and arguments that Clara Train 4.x configs use and today's MONAI lacks.

Clara Train 4.0 ran on MONAI 0.5 and 4.1 on MONAI 0.8; MONAI has since renamed or removed a
number of the classes and arguments those configs name. Each entry here maps one of them to
today's equivalent. :func:`rewrite_config` applies the table to a config as read from disk
(before variables are substituted, so ``{VAR}`` values survive) and reports every use, so the
runner can warn once per use and ``mmar migrate`` can write the rewritten file.

The table is data: one row per change, each with the MONAI version that made it. To support
another rename, add a row; the rewriting code does not change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.config.kinds import ConfigKind
from runner.errors import ConfigIssue

MIGRATE_HINT = "mmar migrate MMAR writes a copy of the MMAR with today's names"


@dataclass(frozen=True)
class ClassAlias:
    """A class that was renamed or removed: use ``new`` with these argument changes."""

    old: str
    new: str
    since: str
    set_args: dict[str, Any] = field(default_factory=dict)  # added unless the config gives them
    rename_args: dict[str, str] = field(default_factory=dict)
    drop_args: frozenset[str] = frozenset()


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


CLASS_ALIASES: tuple[ClassAlias, ...] = (
    ClassAlias("AddChanneld", "EnsureChannelFirstd", "1.3", set_args={"channel_dim": "no_channel"}),
    ClassAlias("AddChannel", "EnsureChannelFirst", "1.3", set_args={"channel_dim": "no_channel"}),
    ClassAlias("AsChannelFirstd", "EnsureChannelFirstd", "1.3", set_args={"channel_dim": -1}),
    ClassAlias("AsChannelFirst", "EnsureChannelFirst", "1.3", set_args={"channel_dim": -1}),
    ClassAlias("LoadNiftid", "LoadImaged", "0.6", set_args={"reader": "NibabelReader"}),
    ClassAlias("LoadNifti", "LoadImage", "0.6", set_args={"reader": "NibabelReader"}),
    ClassAlias("LoadPNGd", "LoadImaged", "0.6", set_args={"reader": "PILReader"}),
    ClassAlias("LoadNumpyd", "LoadImaged", "0.6", set_args={"reader": "NumpyReader"}),
    ClassAlias("SplitChanneld", "SplitDimd", "1.3", set_args={"dim": 0}, rename_args={"channel_dim": "dim"}),
    ClassAlias("SplitChannel", "SplitDim", "1.3", set_args={"dim": 0}, rename_args={"channel_dim": "dim"}),
)

ARG_ALIASES: tuple[ArgAlias, ...] = (
    ArgAlias("dimensions", "spatial_dims", "0.6", NETWORKS_WITH_SPATIAL_DIMS.__contains__, "networks (UNet, BasicUNet, HighResNet, ...)"),
    ArgAlias("post_transform", "postprocessing", "0.6", _named("SupervisedTrainer", "SupervisedEvaluator", "EnsembleEvaluator"),
             "SupervisedTrainer, SupervisedEvaluator, EnsembleEvaluator"),
    ArgAlias("ce_weight", "weight", "1.2", _named("DiceCELoss"), "DiceCELoss"),
    ArgAlias("focal_weight", "weight", "1.2", _named("DiceFocalLoss"), "DiceFocalLoss"),
    ArgAlias("as_tensor_output", None, "1.0",
             _named("RandAffined", "RandAffine", "Affined", "Affine", "Rand2DElasticd", "Rand3DElasticd", "Rand2DElastic", "Rand3DElastic"),
             "RandAffine(d), Affine(d), Rand2DElastic(d), Rand3DElastic(d)"),
)
# AsDiscrete(d) merged several arguments into two; handled by _as_discrete (values combine, not just names).
AS_DISCRETE = ("AsDiscreted", "AsDiscrete")
AS_DISCRETE_ROWS = (
    ("n_classes", "to_onehot", "0.8", "to_onehot=True, n_classes=N becomes to_onehot=N"),
    ("num_classes", "to_onehot", "1.0", "to_onehot=True, num_classes=N becomes to_onehot=N"),
    ("threshold_values", "threshold", "0.8", "threshold_values=True, logit_thresh=T becomes threshold=T"),
    ("logit_thresh", "threshold", "0.8", "threshold_values=True, logit_thresh=T becomes threshold=T"),
)
# Handlers MONAI removed whose job is now a post-transform of the same engine (moved there).
HANDLER_TO_POST_TRANSFORM = {"SegmentationSaver": ("SaveImaged", "1.0"), "TransformInverter": ("Invertd", "1.0")}
# output_transform lambdas written for batched output; MONAI >= 0.6 decollates it into a list of dicts.
BATCHED_ONE = re.compile(r"""^\s*lambda\s+(\w+)\s*:\s*\1\s*\[\s*(['"])(\w+)\2\s*\]\s*$""")
BATCHED_TUPLE = re.compile(r"""^\s*lambda\s+(\w+)\s*:\s*\(\s*\1\s*\[\s*(['"])(\w+)\2\s*\]\s*,\s*\1\s*\[\s*(['"])(\w+)\4\s*\]\s*\)\s*$""")


@dataclass(frozen=True)
class AliasUse:
    """One legacy spelling found in a config, at its JSON path, and what replaced it.

    ``note`` replaces the standard message where more needs saying (a legacy argument given
    together with its replacement, with the same meaning).
    """

    path: str
    old: str
    new: str
    since: str
    note: str | None = None

    def issue(self, file: str) -> ConfigIssue:
        message = self.note or f"{self.old} is gone since MONAI {self.since}; running it as {self.new}"
        return ConfigIssue(file, self.path, message, hint=MIGRATE_HINT, severity="warning")


def _as_is(value: Any) -> Any:
    return value


Resolver = Callable[[Any], Any]


@dataclass
class Rewrite:
    """The result of applying the table to one config file.

    ``resolve`` gives a value's meaning (``{VAR}`` substituted) when a legacy argument and its
    replacement are both given and must be compared; the config itself keeps the text.
    """

    config: dict[str, Any]
    resolve: Resolver = _as_is
    uses: list[AliasUse] = field(default_factory=list)
    errors: list[ConfigIssue] = field(default_factory=list)


def rewrite_config(raw: dict[str, Any], kind: ConfigKind, file: str, resolve: Resolver = _as_is) -> Rewrite:
    """Apply the alias table to every component of ``raw`` (left unchanged); see the module docstring.

    ``resolve`` substitutes variables in a value, so ``"n_classes": "{classes}"`` can be compared
    with ``"to_onehot": 2``; without it values are compared as written.
    """
    result = Rewrite(copy.deepcopy(raw), resolve)
    for section_path, section in _sections(result.config, kind):
        _move_removed_handlers(section, section_path, result, file)
        for path, spec in _components(section, section_path):
            _rewrite_component(spec, path, result, file)
        _rewrite_refs(section, section_path, result)
    return result


def _rewrite_refs(section: dict[str, Any], prefix: str, result: Rewrite) -> None:
    """``{"ref": "AddChanneld"}`` follows the train entry it names to its new class name."""
    renamed = {alias.old: alias for alias in CLASS_ALIASES}
    for slot, value in section.items():
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, dict) and item.get("ref") in renamed:
                alias = renamed[item["ref"]]
                item["ref"] = alias.new
                result.uses.append(AliasUse(f"{_join(prefix, slot)}[{index}].ref", alias.old, alias.new, alias.since))


def _sections(config: dict[str, Any], kind: ConfigKind) -> Iterator[tuple[str, dict[str, Any]]]:
    if kind.flat:
        yield "", config
        return
    for name in ("train", "validate"):
        if isinstance(config.get(name), dict):
            yield name, config[name]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _components(section: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for slot, value in section.items():
        if isinstance(value, dict) and ("name" in value or "path" in value):
            yield _join(prefix, slot), value
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict) and ("name" in item or "path" in item):
                    yield f"{_join(prefix, slot)}[{index}]", item


def _class_name(spec: dict[str, Any]) -> str | None:
    """The MONAI class a spec names: its ``name``, or the last part of a ``monai.`` path."""
    path = spec.get("path")
    if isinstance(path, str) and path:
        return path.rsplit(".", 1)[-1] if path.startswith("monai.") else None
    name = spec.get("name")
    return name if isinstance(name, str) else None


def _rename_class(spec: dict[str, Any], new: str) -> None:
    if isinstance(spec.get("path"), str) and spec["path"]:
        module = {"EnsureChannelFirstd": "monai.transforms", "EnsureChannelFirst": "monai.transforms", "LoadImaged": "monai.transforms",
                  "LoadImage": "monai.transforms", "SplitDimd": "monai.transforms", "SplitDim": "monai.transforms"}.get(new)
        spec["path"] = f"{module}.{new}" if module else spec["path"].rsplit(".", 1)[0] + "." + new
    else:
        spec["name"] = new


def _rewrite_component(spec: dict[str, Any], path: str, result: Rewrite, file: str) -> None:
    name = _class_name(spec)
    if name is None:
        return
    args = spec.get("args")
    if not isinstance(args, dict):
        args = {}
    alias = next((a for a in CLASS_ALIASES if a.old == name), None)
    if alias is not None:
        for old_arg, new_arg in alias.rename_args.items():
            _rename_arg(args, old_arg, new_arg, f"{path}.args", f"{name}({old_arg}=...)", alias.since, result, file)
        for key, value in alias.set_args.items():
            args.setdefault(key, value)
        for key in alias.drop_args:
            args.pop(key, None)
        if args:
            spec["args"] = args
        _rename_class(spec, alias.new)
        extra = ", ".join(f"{k}={args[k]!r}" for k in alias.set_args)
        result.uses.append(AliasUse(_join(path, "name" if "name" in spec else "path"), name,
                                    f"{alias.new}({extra})" if extra else alias.new, alias.since))
        name = alias.new
    for row in ARG_ALIASES:
        if row.old in args and row.applies_to(name):
            if row.new is None:
                args.pop(row.old)
                result.uses.append(AliasUse(f"{path}.args.{row.old}", f"{name}({row.old}=...)", f"{name} without {row.old}", row.since))
            else:
                _rename_arg(args, row.old, row.new, f"{path}.args", f"{name}({row.old}=...)", row.since, result, file)
    if name in AS_DISCRETE:
        _as_discrete(args, path, name, result, file)
    if args and "args" not in spec:
        spec["args"] = args
    for key, value in list(args.items()):
        if key == "output_transform" and isinstance(value, str):
            modern = modern_output_transform(value)
            if modern is not None:
                args[key] = modern
                result.uses.append(AliasUse(f"{path}.args.{key}", f"{value!r} (batched output)", repr(modern), "0.6"))


def _rename_arg(args: dict[str, Any], old: str, new: str, where: str, shown: str, since: str, result: Rewrite, file: str) -> None:
    """``old`` becomes ``new``. Both given (real 4.1 configs do this): one warning when they agree, an error when not."""
    if old not in args:
        return
    if new not in args:
        args[new] = args.pop(old)
        result.uses.append(AliasUse(f"{where}.{old}", shown, shown.replace(f"{old}=", f"{new}="), since))
        return
    legacy, modern = args.pop(old), args[new]
    if not _agree(result, legacy, modern):
        result.errors.append(_disagree(file, where, old, legacy, new, modern))  # reported once, not again as unknown
        return
    result.uses.append(_agreeing(f"{where}.{old}", old, legacy, new, modern, since))


def _agree(result: Rewrite, legacy: Any, modern: Any) -> bool:
    """Whether two values mean the same; numbers compare by value (2 == 2.0), bools only with bools."""
    if legacy == modern and type(legacy) is type(modern):
        return True
    first, second = result.resolve(legacy), result.resolve(modern)
    if isinstance(first, bool) or isinstance(second, bool):
        return first is second
    return first == second


def _agreeing(path: str, old: str, legacy: Any, new: str, modern: Any, since: str) -> AliasUse:
    note = (f"'{old}' ({legacy!r}) is gone since MONAI {since} and is given together with its replacement '{new}' "
            f"({modern!r}); they agree, so '{old}' is ignored")
    return AliasUse(path, f"{old}={legacy!r}", f"{new}={modern!r}", since, note)


def _disagree(file: str, where: str, old: str, legacy: Any, new: str, modern: Any) -> ConfigIssue:
    return ConfigIssue(file, where, f"the legacy '{old}' ({legacy!r}) and its replacement '{new}' ({modern!r}) are both given "
                       "and disagree", hint=f"keep one: remove '{old}', or make the two equal")


def _as_discrete(args: dict[str, Any], path: str, name: str, result: Rewrite, file: str) -> None:
    """AsDiscrete(d) of MONAI <= 0.8: ``to_onehot`` (bool) + ``n_classes``/``num_classes`` and
    ``threshold_values`` (bool) + ``logit_thresh`` became ``to_onehot=N`` and ``threshold=T``.

    Each legacy pair is reduced to what it meant and compared with the modern argument when both are
    given (MONAI 0.8 accepted ``to_onehot: 2, n_classes: 2``): same meaning, one warning; else an error.
    """
    where = f"{path}.args"
    counts = [old for old in ("n_classes", "num_classes") if old in args]
    if len(counts) == 2 and not _agree(result, args["n_classes"], args["num_classes"]):
        result.errors.append(_disagree(file, where, "n_classes", args["n_classes"], "num_classes", args["num_classes"]))
        return
    for old in counts:
        count = args.pop(old)
        since = "0.8" if old == "n_classes" else "1.0"
        onehot = args.get("to_onehot")
        meaning = result.resolve(onehot)
        if onehot is None or meaning is False:
            result.uses.append(AliasUse(f"{where}.{old}", f"{name}({old}={count!r})", f"{name} without {old}", since,
                                        f"'{old}' ({count!r}) is gone since MONAI {since}; it only counted classes for "
                                        "to_onehot=True, which is not set here, so it is ignored"))
        elif meaning is True:
            args["to_onehot"] = count
            result.uses.append(AliasUse(f"{where}.{old}", f"{name}(to_onehot=True, {old}=N)", f"{name}(to_onehot=N)", since))
        elif _agree(result, count, onehot):
            result.uses.append(_agreeing(f"{where}.{old}", old, count, "to_onehot", onehot, since))
        else:
            result.errors.append(_disagree(file, where, old, count, "to_onehot", onehot))
            return
    if "threshold_values" not in args and "logit_thresh" in args:
        level = args.pop("logit_thresh")
        result.uses.append(AliasUse(f"{where}.logit_thresh", f"{name}(logit_thresh={level!r})", f"{name} without logit_thresh", "0.8",
                                    f"'logit_thresh' ({level!r}) is gone since MONAI 0.8; it only set the level for "
                                    "threshold_values=True, which is not set here, so it is ignored"))
    if "threshold_values" in args:
        enabled = args.pop("threshold_values")
        level = args.pop("logit_thresh", 0.5)
        legacy = level if result.resolve(enabled) is not False else None
        shown = f"threshold_values={enabled!r}, logit_thresh={level!r}"
        if "threshold" in args:
            if not _agree(result, legacy, args["threshold"]):
                result.errors.append(_disagree(file, where, shown, legacy, "threshold", args["threshold"]))
                return
            result.uses.append(_agreeing(f"{where}.threshold_values", shown, legacy, "threshold", args["threshold"], "0.8"))
            return
        if legacy is not None:
            args["threshold"] = legacy
        result.uses.append(AliasUse(f"{where}.threshold_values", f"{name}({shown})", f"{name}(threshold={legacy!r})", "0.8"))


def modern_output_transform(value: str) -> str | None:
    """``lambda x: x['loss']`` / ``lambda x: (x['pred'], x['label'])`` as their from_engine equivalents, else None."""
    one = BATCHED_ONE.match(value)
    if one:
        return f"#monai.handlers.from_engine(['{one.group(3)}'], first=True)"
    pair = BATCHED_TUPLE.match(value)
    if pair:
        return f"#monai.handlers.from_engine(['{pair.group(3)}', '{pair.group(5)}'])"
    return None


def _move_removed_handlers(section: dict[str, Any], prefix: str, result: Rewrite, file: str) -> None:
    """SegmentationSaver and TransformInverter handlers become post-transforms of the same section."""
    handlers = section.get("handlers")
    if not isinstance(handlers, list):
        return
    kept = []
    for index, handler in enumerate(handlers):
        name = _class_name(handler) if isinstance(handler, dict) else None
        if name not in HANDLER_TO_POST_TRANSFORM:
            kept.append(handler)
            continue
        new, since = HANDLER_TO_POST_TRANSFORM[name]
        transforms = _as_post_transforms(name, handler.get("args") or {})
        if handler.get("disabled") is not None:
            for transform in transforms:
                transform["disabled"] = handler["disabled"]
        post = section.setdefault("post_transforms", [])
        post.extend(transforms)
        result.uses.append(AliasUse(f"{_join(prefix, 'handlers')}[{index}]", f"handler {name}",
                                    f"post-transform {new} at {_join(prefix, 'post_transforms')}[{len(post) - 1}]", since))
    section["handlers"] = kept


def _as_post_transforms(name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    if name == "SegmentationSaver":
        keep = ("output_dir", "output_postfix", "output_ext", "resample", "mode", "padding_mode", "scale", "dtype",
                "output_dtype", "squeeze_end_dims", "data_root_dir", "separate_folder", "print_log")
        key = _key_of(args.get("output_transform"), "pred")
        return [{"name": "SaveImaged", "args": {"keys": key, **{k: v for k, v in args.items() if k in keep}}}]
    keys = args.get("output_keys", "pred")
    invert = {"keys": keys, "transform": args.get("transform"), "orig_keys": args.get("batch_keys", "image"),
              **{k: args[k] for k in ("nearest_interp", "to_tensor", "device", "post_func") if k in args}}
    postfix = args.get("postfix")
    if not postfix:
        return [{"name": "Invertd", "args": invert}]
    names = [f"{k}_{postfix}" for k in (keys if isinstance(keys, list) else [keys])]
    return [{"name": "CopyItemsd", "args": {"keys": keys, "names": names}}, {"name": "Invertd", "args": {**invert, "keys": names}}]


def _key_of(output_transform: Any, default: str) -> str:
    """The output key an old handler's ``lambda x: x['pred_inverted']``-style output_transform selected."""
    if isinstance(output_transform, str):
        found = BATCHED_ONE.match(output_transform)
        if found:
            return found.group(3)
    return default


def alias_table_rows() -> list[tuple[str, str, str, str]]:
    """(old, new, since, where) for every row, for the docs and ``mmar migrate --list``."""
    rows = [(a.old, a.new + (f"({', '.join(f'{k}={v!r}' for k, v in a.set_args.items())})" if a.set_args else ""), a.since, "class")
            for a in CLASS_ALIASES]
    rows += [(f"{r.old}=", f"{r.new}=" if r.new else "(removed)", r.since, r.describe) for r in ARG_ALIASES]
    rows += [(f"{old}=", f"{new}=", since, f"AsDiscrete(d): {how}") for old, new, since, how in AS_DISCRETE_ROWS]
    rows += [(f"handler {old}", f"post-transform {new}", since, "moved to the section's post_transforms")
             for old, (new, since) in HANDLER_TO_POST_TRANSFORM.items()]
    rows += [("output_transform: lambda x: x['k']", "#monai.handlers.from_engine(['k'], first=True)", "0.6", "batched-output lambdas"),
             ("output_transform: lambda x: (x['a'], x['b'])", "#monai.handlers.from_engine(['a', 'b'])", "0.6", "batched-output lambdas")]
    return rows
