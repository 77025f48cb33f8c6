"""Data inputs that match no files: ``glob.glob(...)`` patterns and JSON datalists, computed statically.

Zoo bundles build their data lists in ``$`` strings, in two common shapes:

- ``$list(sorted(glob.glob(@dataset_dir + '/imagesTr/*.nii.gz')))``: the pattern is computed
  (:mod:`runner.bundle.static`) and globbed; no match is an error.
- ``$monai.data.load_decathlon_datalist(@data_list_file_path, True, 'training', @base_dir)``:
  the JSON file must exist, hold the key, and the image/label files it lists must exist
  (relative to ``base_dir``, by default the datalist's folder, as MONAI joins them).

A relative path is taken from the bundle root (bundles run from their root). Any other shape is
reported as "not checked": nothing is ever evaluated to find out. What the two shapes list is
also handed on (:func:`check_inputs`) for ``mmar check --data``, which opens every file.
"""

from __future__ import annotations

import ast
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.bundle.ids import iter_items, shown
from runner.bundle.load import BundleConfig
from runner.bundle.static import NotStatic, static_value
from runner.bundle.syntax import parse_expression
from runner.errors import ConfigIssue, MmarLayoutError
from runner.jsonio import load_json

DATALIST_FUNCTION = "load_decathlon_datalist"
DATALIST_PARAMS = ("data_list_file_path", "is_segmentation", "data_list_key", "base_dir")  # MONAI's order
MISSING_SHOWN = 3
LABEL_WORDS = ("label", "seg", "mask")  # a glob item named so lists labels (its values are checked by --data)


@dataclass(frozen=True)
class _Site:
    bundle: BundleConfig
    file: str
    where: str

    def error(self, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.where, message)

    def not_checked(self, what: str, why: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.where, f"{what} not checked: {why}", severity="warning")


@dataclass(frozen=True)
class DataInput:
    """The files one data site lists, as datalist entries with absolute paths (``{"image": ...}``)."""

    file: str  # the config file the site is in (a glob) or the datalist file
    key: str  # the datalist key, or the glob's item id
    entries: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Found:
    issues: list[ConfigIssue]
    data: DataInput | None = None


def check_inputs(bundle: BundleConfig) -> tuple[list[ConfigIssue], list[DataInput]]:
    """Globs that match nothing and datalists that are missing, broken or list missing files; and what
    each glob and datalist the check could compute lists, for ``--data`` to open (one scan serves both)."""
    issues: list[ConfigIssue] = []
    inputs: list[DataInput] = []
    for found in _scan(bundle):
        issues += found.issues
        if found.data is not None and found.data.entries:
            inputs.append(found.data)
    return issues, inputs


def _scan(bundle: BundleConfig) -> Iterator[_Found]:
    parser = bundle.parser()

    def lookup(config_id: str) -> Any:
        if config_id not in parser:
            raise KeyError(config_id)
        return parser[config_id]

    for config_id, value in iter_items(bundle.config):
        if not (isinstance(value, str) and value.startswith("$")):
            continue
        try:
            tree = parse_expression(value).tree
        except SyntaxError:
            continue  # reported by the syntax check
        site = _Site(bundle, bundle.file_of(config_id), shown(config_id))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            if _is_glob(call):
                yield _check_glob(site, call, lookup)
            elif _called_name(call) == DATALIST_FUNCTION:
                yield _check_datalist(site, call, lookup)


def _check_glob(site: _Site, call: ast.Call, lookup: Any) -> _Found:
    if not call.args:
        return _Found([])
    try:
        pattern = static_value(call.args[0], lookup)
    except NotStatic as exc:
        return _Found([site.not_checked("glob pattern", f"{exc} is known only when it runs")])
    recursive = any(k.arg == "recursive" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in call.keywords)
    full = _in_bundle(site.bundle, str(pattern))
    matched = sorted(glob.glob(str(full), recursive=recursive))
    if matched:
        field_name = "label" if any(word in site.where.rsplit("#", 1)[-1].lower() for word in LABEL_WORDS) else "image"
        return _Found([], DataInput(site.file, site.where, [{field_name: path} for path in matched]))
    return _Found([site.error(f"glob {str(pattern)!r} matches no files"
                              + (f" (looked in {full})" if str(full) != pattern else ""))])


def _check_datalist(site: _Site, call: ast.Call, lookup: Any) -> _Found:
    nodes = _arguments(call)
    if "data_list_file_path" not in nodes:
        return _Found([])
    try:
        path = str(static_value(nodes["data_list_file_path"], lookup))
        key = str(static_value(nodes["data_list_key"], lookup)) if "data_list_key" in nodes else "training"
        segmentation = _flag(nodes.get("is_segmentation"), default=True)
        base = str(static_value(nodes["base_dir"], lookup)) if "base_dir" in nodes else None
    except NotStatic as exc:
        return _Found([site.not_checked("datalist", f"{exc} is known only when it runs")])
    full = _in_bundle(site.bundle, path)
    if not full.is_file():
        return _Found([site.error(f"datalist {path} not found" + (f" (looked in {full})" if str(full) != path else ""))])
    try:
        document = load_json(full)
    except MmarLayoutError as exc:
        return _Found([site.error(f"datalist {path}: {exc.message}")])
    entries = document.get(key) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return _Found([site.error(f"datalist {path} has no list under {key!r}")])
    root = _in_bundle(site.bundle, base) if base is not None else full.parent
    keys = ("image", "label") if segmentation else ("image",)
    data = DataInput(site.bundle.display(full), key, [_absolute(entry, root, keys) for entry in entries
                                                      if isinstance(entry, dict)])
    missing = _missing_files(entries, root, keys)
    if not missing:
        return _Found([], data)
    listed = ", ".join(missing[:MISSING_SHOWN]) + (", ..." if len(missing) > MISSING_SHOWN else "")
    return _Found([site.error(f"datalist {path}[{key!r}]: {len(missing)} listed file{'s' if len(missing) != 1 else ''} "
                              f"not found under {root}: {listed}")], data)


def _absolute(entry: dict[str, Any], root: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """An entry's file fields joined to the folder MONAI joins them to; its other fields dropped."""
    joined: dict[str, Any] = {}
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str):
            joined[key] = str(root / value)
        elif isinstance(value, list):
            joined[key] = [str(root / v) if isinstance(v, str) else v for v in value]
    return joined


def _missing_files(entries: list[Any], root: Path, keys: tuple[str, ...]) -> list[str]:
    missing = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for key in keys:
            values = entry.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and not (root / value).exists():
                    missing.append(value)
    return missing


def _arguments(call: ast.Call) -> dict[str, ast.expr]:
    named = {name: node for name, node in zip(DATALIST_PARAMS, call.args, strict=False)}
    named.update({k.arg: k.value for k in call.keywords if k.arg})
    return named


def _flag(node: ast.expr | None, default: bool) -> bool:
    if node is None:
        return default
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    raise NotStatic(ast.unparse(node))


def _is_glob(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr in ("glob", "iglob")
            and isinstance(func.value, ast.Name) and func.value.id == "glob")


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _in_bundle(bundle: BundleConfig, path: str) -> Path:
    candidate = Path(os.path.expanduser(path))
    return candidate if candidate.is_absolute() else bundle.root / candidate

