"""Which format a folder is: a Clara MMAR or a MONAI Bundle, told apart by layout alone.

| layout | marker files |
|---|---|
| MMAR   | ``config/`` (``config/config_train.json`` by default; ``-c`` may name another) |
| bundle | ``configs/metadata.json`` and ``configs/train.json`` (or ``.yaml``/``.yml``) |

An MMAR's ``config/`` wins when both are present, so every MMAR keeps the path it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from runner.errors import MmarLayoutError

BUNDLE_METADATA = "configs/metadata.json"
BUNDLE_TRAIN_NAMES = ("configs/train.json", "configs/train.yaml", "configs/train.yml")
MMAR_TRAIN = "config/config_train.json"
LAYOUT_HINT = ("an MMAR has config/config_train.json; a MONAI bundle has configs/metadata.json "
               "and configs/train.json (or train.yaml)")
CKPT_DIR_ID, OUTPUT_DIR_ID = "ckpt_dir", "output_dir"  # a bundle's output folder items: checkpoints, evaluation
NO_ENVIRONMENT = "-e: a MONAI bundle has no environment.json; give more config files with -c a.json,b.json or --set ID=VALUE"


class Kind(Enum):
    MMAR = "mmar"
    BUNDLE = "bundle"


@dataclass(frozen=True)
class Layout:
    """A folder and the format its layout says it is; ``train_config`` is set for bundles."""

    root: Path
    kind: Kind
    train_config: Path | None = None


def bundle_train_config(root: Path) -> Path | None:
    """The bundle's training config (json before yaml before yml), or None."""
    for name in BUNDLE_TRAIN_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def looks_like_bundle(root: Path) -> bool:
    """A cheap test for commands that do not take bundles yet: ``configs/`` and no MMAR ``config/``."""
    return root.is_dir() and (root / "configs").is_dir() and not (root / "config").is_dir()


def detect_layout(root: str | Path) -> Layout:
    """Say whether ``root`` is an MMAR or a MONAI bundle.

    Raises:
        MmarLayoutError: the folder is missing, or is neither; the message names what is missing.
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise MmarLayoutError(f"{root}: MMAR folder not found", hint=LAYOUT_HINT)
    if not path.is_dir():
        raise MmarLayoutError(f"{root}: not a folder", hint="pass the MMAR or bundle root folder, not a file in it")
    if (path / "config").is_dir():
        return Layout(path, Kind.MMAR)
    train = bundle_train_config(path)
    if train is not None and (path / BUNDLE_METADATA).is_file():
        return Layout(path, Kind.BUNDLE, train)
    missing = [BUNDLE_METADATA] if not (path / BUNDLE_METADATA).is_file() else []
    if train is None:
        missing.append("configs/train.json (or train.yaml)")
    raise MmarLayoutError(
        f"{root}: neither an MMAR nor a MONAI bundle: no {MMAR_TRAIN} (MMAR); no {' and no '.join(missing)} (bundle)",
        hint=LAYOUT_HINT,
    )
