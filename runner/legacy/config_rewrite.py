"""Apply the alias table (:mod:`runner.legacy.aliases`) to a config as read from disk.

The config is rewritten before variables are substituted, so ``{VAR}`` values survive and
``mmar migrate`` can write the result; every use is reported, so the runner warns once per use
with its JSON path. Component dicts nested in another component's ``args`` (the deepgrow click
transforms that a custom iteration builds itself) are rewritten too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.config.kinds import ConfigKind
from runner.errors import ConfigIssue
from runner.legacy.aliases import (
    ARG_ALIASES,
    AS_DISCRETE,
    BATCHED_ONE,
    BATCHED_TUPLE,
    CLASS_ALIASES,
    HANDLER_TO_POST_TRANSFORM,
    INVERSION_SAFE_TO_TENSOR,
    INVERTERS,
    SEGMENTATION_SAVER_DEFAULTS,
    ClassAlias,
    Resolver,
    removed_class,
)

MIGRATE_HINT = "mmar migrate MMAR writes a copy of the MMAR with today's names"


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
    renamed: dict[str, str] = {}  # old class name -> new, for validate refs to train entries
    sections = list(_sections(result.config, kind))
    for section_path, section in sections:
        _move_removed_handlers(section, section_path, result)
    inverting = any(_class_name(spec) in INVERTERS for path, section in sections for _, spec in _components(section, path))
    for section_path, section in sections:
        for path, spec in _components(section, section_path):
            if inverting and _class_name(spec) in INVERSION_SAFE_TO_TENSOR:
                _invertible_to_tensor(spec, path, result, renamed)
            _rewrite_component(spec, path, result, file, renamed)
        _rewrite_refs(section, section_path, result, renamed)
    return result


def _invertible_to_tensor(spec: dict[str, Any], path: str, result: Rewrite, renamed: dict[str, str]) -> None:
    old = _class_name(spec)
    new = INVERSION_SAFE_TO_TENSOR[old]
    _rename_class(spec, new)
    renamed[old] = new
    result.uses.append(AliasUse(_join(path, "name" if "name" in spec else "path"), old, new, "0.9.0",
                                f"{old}'s inverse returns numpy arrays, which the spatial inverses Invertd runs before it refuse "
                                f"since MONAI 0.9 (MetaTensors); running it as {new}, which converts the same way"))


def _rewrite_refs(section: dict[str, Any], prefix: str, result: Rewrite, renamed: dict[str, str]) -> None:
    """``{"ref": "AddChanneld"}`` follows the train entry it names to its new class name."""
    for slot, value in section.items():
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, dict) and item.get("ref") in renamed:
                old = item["ref"]
                item["ref"] = renamed[old]
                alias = next((a for a in CLASS_ALIASES if a.old == old), None)
                result.uses.append(AliasUse(f"{_join(prefix, slot)}[{index}].ref", old, renamed[old], alias.since if alias else "0.9.0"))


def _sections(config: dict[str, Any], kind: ConfigKind) -> Iterator[tuple[str, dict[str, Any]]]:
    if kind.flat:
        yield "", config
        return
    for name in ("train", "validate"):
        if isinstance(config.get(name), dict):
            yield name, config[name]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _is_component(value: Any) -> bool:
    return isinstance(value, dict) and ("name" in value or "path" in value)


def _components(section: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every component of a section, and every component dict nested in a component's ``args``."""
    for slot, value in section.items():
        items = [(_join(prefix, slot), value)] if not isinstance(value, list) else \
            [(f"{_join(prefix, slot)}[{index}]", item) for index, item in enumerate(value)]
        for path, item in items:
            if _is_component(item):
                yield path, item
                yield from _nested(item.get("args"), f"{path}.args")


def _nested(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        children = [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return
    for where, item in children:
        if _is_component(item):
            yield where, item
            yield from _nested(item.get("args"), f"{where}.args")
        else:
            yield from _nested(item, where)


def _class_name(spec: dict[str, Any]) -> str | None:
    """The MONAI class a spec names: its ``name``, or the last part of a ``monai.`` path."""
    path = spec.get("path")
    if isinstance(path, str) and path:
        return path.rsplit(".", 1)[-1] if path.startswith("monai.") else None
    name = spec.get("name")
    return name if isinstance(name, str) else None


def _rename_class(spec: dict[str, Any], new: str) -> None:
    """A class name replaces the name (or the last part of a monai path); a dotted path becomes the ``path``."""
    if "." in new:
        spec["path"] = new
    elif isinstance(spec.get("path"), str) and spec["path"]:
        module = {"EnsureChannelFirstd": "monai.transforms", "EnsureChannelFirst": "monai.transforms", "LoadImaged": "monai.transforms",
                  "LoadImage": "monai.transforms", "SplitDimd": "monai.transforms", "SplitDim": "monai.transforms",
                  "GridSplitd": "monai.transforms", "GridSplit": "monai.transforms", "TorchVisionFCModel": "monai.networks.nets"}.get(new)
        spec["path"] = f"{module}.{new}" if module else spec["path"].rsplit(".", 1)[0] + "." + new
    else:
        spec["name"] = new


def _rewrite_component(spec: dict[str, Any], path: str, result: Rewrite, file: str, renamed: dict[str, str]) -> None:
    name = _class_name(spec)
    if name is None:
        return
    args = spec.get("args")
    if not isinstance(args, dict):
        args = {}
    alias = next((a for a in CLASS_ALIASES if a.applies(name, args)), None)
    if alias is not None:
        args = _apply_class_alias(alias, name, spec, args, path, result, file, renamed)
        name = alias.new.rsplit(".", 1)[-1]
    elif (row := removed_class(name)) is not None:
        if row.successor is None:
            result.errors.append(ConfigIssue(file, _join(path, "name" if "name" in spec else "path"),
                                             f"{name} was removed in MONAI {row.removed} and has no successor",
                                             hint=row.note or None))
            return
        spec["path"] = row.successor
        result.uses.append(AliasUse(_join(path, "name" if "name" in spec else "path"), name, row.successor, row.removed, None))
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
                result.uses.append(AliasUse(f"{path}.args.{key}", f"{value!r} (batched output)", repr(modern), "0.6.0"))


def _apply_class_alias(alias: ClassAlias, name: str, spec: dict[str, Any], args: dict[str, Any], path: str, result: Rewrite,
                       file: str, renamed: dict[str, str]) -> dict[str, Any]:
    for old_arg, new_arg in alias.rename_args.items():
        _rename_arg(args, old_arg, new_arg, f"{path}.args", f"{name}({old_arg}=...)", alias.since, result, file)
    for key, value in alias.set_args.items():
        args.setdefault(key, value)
    for key in alias.drop_args:
        args.pop(key, None)
    if alias.translate is not None:
        args = alias.translate(args, result.resolve)
    if args:
        spec["args"] = args
    if alias.new != name:
        _rename_class(spec, alias.new)
        if "." not in alias.new:
            renamed[name] = alias.new
    extra = alias.note or ", ".join(f"{k}={args[k]!r}" for k in alias.set_args)
    result.uses.append(AliasUse(_join(path, "name" if "name" in spec else "path"), name,
                                f"{alias.new}({extra})" if extra else alias.new, alias.since))
    return args


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
    """AsDiscrete(d) of MONAI <= 0.9: ``to_onehot`` (bool) + ``n_classes``/``num_classes`` and
    ``threshold_values`` (bool) + ``logit_thresh`` became ``to_onehot=N`` and ``threshold=T``.

    Each legacy pair is reduced to what it meant and compared with the modern argument when both are
    given (MONAI 0.8 accepted ``to_onehot: 2, n_classes: 2``): same meaning, one warning; else an error.
    MONAI 1.6 swallows the old keywords silently (no thresholding happens), so none may survive.
    """
    where = f"{path}.args"
    counts = [old for old in ("n_classes", "num_classes") if old in args]
    if len(counts) == 2 and not _agree(result, args["n_classes"], args["num_classes"]):
        result.errors.append(_disagree(file, where, "n_classes", args["n_classes"], "num_classes", args["num_classes"]))
        return
    for old in counts:
        count = args.pop(old)
        onehot = args.get("to_onehot")
        meaning = result.resolve(onehot)
        if onehot is None or meaning is False:
            result.uses.append(AliasUse(f"{where}.{old}", f"{name}({old}={count!r})", f"{name} without {old}", "1.0.0",
                                        f"'{old}' ({count!r}) is gone since MONAI 1.0.0; it only counted classes for "
                                        "to_onehot=True, which is not set here, so it is ignored"))
        elif meaning is True:
            args["to_onehot"] = count
            result.uses.append(AliasUse(f"{where}.{old}", f"{name}(to_onehot=True, {old}=N)", f"{name}(to_onehot=N)", "1.0.0"))
        elif _agree(result, count, onehot):
            result.uses.append(_agreeing(f"{where}.{old}", old, count, "to_onehot", onehot, "1.0.0"))
        else:
            result.errors.append(_disagree(file, where, old, count, "to_onehot", onehot))
            return
    if result.resolve(args.get("to_onehot")) is True:
        result.errors.append(ConfigIssue(file, f"{where}.to_onehot", "to_onehot=true needs the number of classes, and none is given",
                                         hint="give the class count: \"to_onehot\": 2"))
    if "threshold_values" not in args and "logit_thresh" in args:
        level = args.pop("logit_thresh")
        result.uses.append(AliasUse(f"{where}.logit_thresh", f"{name}(logit_thresh={level!r})", f"{name} without logit_thresh", "1.0.0",
                                    f"'logit_thresh' ({level!r}) is gone since MONAI 1.0.0; it only set the level for "
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
            result.uses.append(_agreeing(f"{where}.threshold_values", shown, legacy, "threshold", args["threshold"], "1.0.0"))
            return
        if legacy is not None:
            args["threshold"] = legacy
        result.uses.append(AliasUse(f"{where}.threshold_values", f"{name}({shown})", f"{name}(threshold={legacy!r})", "1.0.0"))


def modern_output_transform(value: str) -> str | None:
    """``lambda x: x['loss']`` / ``lambda x: (x['pred'], x['label'])`` as their from_engine equivalents, else None."""
    one = BATCHED_ONE.match(value)
    if one:
        return f"#monai.handlers.from_engine(['{one.group(3)}'], first=True)"
    pair = BATCHED_TUPLE.match(value)
    if pair:
        return f"#monai.handlers.from_engine(['{pair.group(3)}', '{pair.group(5)}'])"
    return None


def _move_removed_handlers(section: dict[str, Any], prefix: str, result: Rewrite) -> None:
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
        return [{"name": "SaveImaged", "args": {"keys": key, **SEGMENTATION_SAVER_DEFAULTS, **{k: v for k, v in args.items() if k in keep}}}]
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
