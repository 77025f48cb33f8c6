"""Where a MONAI bundle's folders point inside its image: outputs to /out, data to /data.

A bundle names its folders with items such as ``ckpt_dir`` (``"$@bundle_root + '/models'"``),
``output_dir``, ``dataset_dir`` (often a path of its author's machine) and ``data_file_base_dir``.
In the image the bundle is read-only at /opt/mmar and its ``data/`` was left out, so the entry
point (runner.container) gives the run these ``--set`` words before the user's own:

| item | value | when |
|---|---|---|
| ``ckpt_dir`` | ``/out`` | the configs define it |
| ``output_dir`` | ``/out/eval`` when ``ckpt_dir`` is defined too, else ``/out`` | the configs define it |
| ``dataset_dir``, ``data_file_base_dir`` | ``/data`` | something is mounted at /data and the configs define it |
| ``data_list_file_path`` | ``/data/REST`` | its value is, statically, ``REST`` under the bundle's own ``data/`` |

Only ids the configs define: an unknown id in ``--set`` is exit 2 (runner.bundle.overrides), and
inventing one would change the bundle. The values are plain paths, data like every ``--set``
value; a user's ``--set`` of the same id comes later and wins. Nothing of the bundle is run to
find its ids: the config files are read, and ``data_list_file_path`` is computed only when it is
a literal or a ``+``/``os.path.join`` of literals (runner.bundle.static).
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.bundle.layout import BUNDLE_METADATA, CKPT_DIR_ID, OUTPUT_DIR_ID, bundle_train_config
from runner.errors import MmarLayoutError

logger = logging.getLogger(__name__)

DATA_ROOT_IDS = ("dataset_dir", "data_file_base_dir")
DATA_FILE_IDS = ("data_list_file_path",)
BUNDLE_ROOT = "bundle_root"
DATA_FOLDER = "data"
NEVER_OUTPUTS = ("configs", "scripts", "docs")  # a bundle's own parts, whatever an output item says
# the config files each command reads when -c is not given (as runner.bundle.train / runner.bundle.evaluate)
COMMAND_CONFIGS = {"validate": "configs/train.json,configs/evaluate.json", "infer": "configs/inference.json"}


def is_bundle_root(root: Path) -> bool:
    """The image holds a bundle (configs/metadata.json and no MMAR config/), not an MMAR."""
    return (root / BUNDLE_METADATA).is_file() and not (root / "config").is_dir()


def command_configs(root: Path, command: str, words: Sequence[str]) -> list[Path]:
    """The config files ``command`` will merge: ``-c a,b`` among the user's words, else the command's defaults."""
    given = None
    for index, word in enumerate(words):
        if word in ("-c", "--config") and index + 1 < len(words):
            given = words[index + 1]
        elif word.startswith("--config="):
            given = word.split("=", 1)[1]
    if given is None:
        default = COMMAND_CONFIGS.get(command)
        if default is None:
            train = bundle_train_config(root)
            return [train] if train is not None else []
        given = default
    return [p if p.is_absolute() else root / p for p in (Path(c.strip()) for c in given.split(",") if c.strip())]


def top_level_items(files: Sequence[Path]) -> dict[str, Any]:
    """The files' top-level items merged in order (a later file wins); a file that cannot be read is skipped.

    The run that follows reads the same files and reports a missing or broken one itself (exit 2).
    """
    from runner.bundle.load import load_config_file

    items: dict[str, Any] = {}
    for path in files:
        try:
            content, _ = load_config_file(path, str(path))
        except MmarLayoutError:
            continue
        for key, value in content.items():
            top = key.lstrip("+")
            if "#" not in top and "::" not in top:
                items[top] = value
    return items


def static_path(items: Mapping[str, Any], config_id: str, root: Path) -> Path | None:
    """The item's value as an absolute path when it is computed from literals alone (``bundle_root`` = ``root``), else None."""
    from runner.bundle.static import NotStatic, static_value
    from runner.bundle.syntax import parse_expression

    def lookup(name: str) -> Any:
        if name == BUNDLE_ROOT:
            return str(root)
        return items[name]

    value = items.get(config_id)
    try:
        if isinstance(value, str) and value.startswith("$"):
            value = static_value(parse_expression(value).tree, lookup)
        elif isinstance(value, str) and value.startswith("@"):
            value = static_value(ast.parse(f"__local_refs[{value[1:]!r}]", mode="eval"), lookup)
    except (NotStatic, SyntaxError, KeyError):
        return None
    if not isinstance(value, str) or not value:
        return None
    path = Path(os.path.normpath(value if os.path.isabs(value) else root / value))
    return path


def data_mounted(data: Path) -> bool:
    """Something is mounted at /data: the image's own /data is an empty folder."""
    try:
        return data.is_dir() and any(data.iterdir())
    except OSError:
        return False


def path_words(items: Mapping[str, Any], root: Path, out: Path, data: Path, with_data: bool) -> list[str]:
    """The ``ID=VALUE`` words that point the bundle's folders at the image's mounts (see the table above)."""
    words = []
    if CKPT_DIR_ID in items:
        words.append(f"{CKPT_DIR_ID}={out}")
    if OUTPUT_DIR_ID in items:
        words.append(f"{OUTPUT_DIR_ID}={out / 'eval' if CKPT_DIR_ID in items else out}")
    if with_data:
        words += [f"{config_id}={data}" for config_id in DATA_ROOT_IDS if config_id in items]
        own_data = root / DATA_FOLDER
        for config_id in DATA_FILE_IDS:
            path = static_path(items, config_id, root) if config_id in items else None
            if path is not None and path.is_relative_to(own_data) and path != own_data:
                words.append(f"{config_id}={data / path.relative_to(own_data)}")
    return words


def container_bundle_words(root: Path, command: str, words: Sequence[str], out: Path, data: Path) -> list[str]:
    """The path words for ``command`` run on the bundle at ``root`` with the user's ``words``."""
    items = top_level_items(command_configs(root, command, words))
    mounted = data_mounted(data)
    found = path_words(items, root, out, data, mounted)
    if command in ("train", "validate", "infer") and CKPT_DIR_ID not in items and OUTPUT_DIR_ID not in items:
        logger.warning("the bundle's configs define neither %s nor %s: its outputs go to %s, inside the image, not to %s",
                       CKPT_DIR_ID, OUTPUT_DIR_ID, root / ("models" if command == "train" else "eval"), out)
    return found


def output_folders(root: Path) -> tuple[str, ...]:
    """Top-level folders of the bundle its configs write to (``ckpt_dir``, ``output_dir``), computed statically.

    Left out of the image like ``models/`` and ``eval/``: a bundle that trained on the author's
    machine has its checkpoints there.
    """
    folders: set[str] = set()
    configs = root / "configs"
    files = sorted(p for p in configs.glob("*") if p.suffix in (".json", ".yaml", ".yml") and p.name != Path(BUNDLE_METADATA).name)
    for path in files:
        items = top_level_items([path])
        for config_id in (CKPT_DIR_ID, OUTPUT_DIR_ID):
            where = static_path(items, config_id, root) if config_id in items else None
            if where is not None and where.is_relative_to(root) and where != root:
                top = where.relative_to(root).parts[0]
                if top not in NEVER_OUTPUTS:
                    folders.add(top)
    return tuple(sorted(folders))
