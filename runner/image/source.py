"""What an image is built from: an MMAR or a MONAI bundle, checked, named and with its staging rules.

``mmar build`` and ``mmar k8s`` take either format; the layout tells which (runner.bundle.layout).
Both become the same kind of image (one layer on the shared runtime stage, /opt/mmar, the same
entry point); what differs is the Dockerfile stage (its labels), the name (an MMAR's folder; a
bundle's ``name`` in metadata.json, else its folder) and what is left out by rule
(runner.image.context).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, MmarLayoutError
from runner.image.context import MMAR_RULES, StageRules, bundle_rules

MMAR_FORMAT, BUNDLE_FORMAT = "mmar", "bundle"
STAGES = {MMAR_FORMAT: "bundle", BUNDLE_FORMAT: "monai-bundle"}  # the Dockerfile's target for each format


@dataclass(frozen=True)
class ImageSource:
    """A folder an image can be built from."""

    root: Path
    format: str  # MMAR_FORMAT or BUNDLE_FORMAT
    name: str
    version: str | None = None  # a bundle's metadata version
    output_folders: tuple[str, ...] = ()  # a bundle's top-level folders its configs write to

    @property
    def stage(self) -> str:
        return STAGES[self.format]

    @property
    def rules(self) -> StageRules:
        return bundle_rules(self.output_folders) if self.format == BUNDLE_FORMAT else MMAR_RULES


def checked_source(path: Path) -> ImageSource:
    """The MMAR or bundle at ``path``, refused when it is neither or when its code would hide another module.

    Raises:
        MmarLayoutError: neither an MMAR nor a bundle (the message names what each needs).
        ConfigError: an MMAR's custom/ hides a standard-library or installed module.
    """
    from runner.bundle.layout import Kind, detect_layout
    from runner.mmar import shadowed_modules

    source = path.expanduser().resolve()
    if (source / "config").is_dir():
        shadowing = shadowed_modules(source)
        if shadowing:
            raise ConfigError(shadowing)
        return ImageSource(source, MMAR_FORMAT, source.name)
    if not source.is_dir() or not (source / "configs").is_dir():
        raise MmarLayoutError(f"{source}: not an MMAR (no config/ folder) nor a MONAI bundle (no configs/ folder)")
    layout = detect_layout(source)
    if layout.kind is not Kind.BUNDLE:
        raise MmarLayoutError(f"{source}: not an MMAR (no config/ folder)")
    return bundle_source(source)


def bundle_source(root: Path) -> ImageSource:
    """A bundle's name and version from configs/metadata.json (``name`` is optional there: the folder's name then)."""
    from runner.bundle.layout import BUNDLE_METADATA
    from runner.image.bundle_paths import output_folders
    from runner.jsonio import load_json

    metadata: Any = load_json(root / BUNDLE_METADATA, BUNDLE_METADATA)
    if not isinstance(metadata, dict):
        raise MmarLayoutError(f"{root / BUNDLE_METADATA}: expected a JSON object")
    name = metadata.get("name")
    version = metadata.get("version")
    return ImageSource(root, BUNDLE_FORMAT, name.strip() if isinstance(name, str) and name.strip() else root.name,
                       str(version) if isinstance(version, (str, int, float)) and str(version) else "unknown",
                       output_folders(root))
