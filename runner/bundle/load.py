"""Read a bundle's config files and metadata with MONAI's own parser, as ``monai.bundle run`` would.

Files are read with ``ConfigParser.load_config_file`` and merged in order with MONAI's
``merge_kv`` (a later file overrides or extends an earlier one, ``"a#b"`` keys reach into
nested items, ``"+key"`` appends), so the merged config is the one MONAI would build. Reading
is data only: JSON/YAML, nothing evaluated. We also remember which file set each top-level
id, so every issue can name its file.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.bundle.legacy import Conflict, LegacyArgument, rewrite_legacy_arguments
from runner.bundle.overrides import SET_WHERE, BundleOverride, apply_overrides, check_override_ids
from runner.errors import ConfigIssue, MmarLayoutError

logger = logging.getLogger(__name__)

META_KEY = "_meta_"
BUNDLE_ROOT_ID = "bundle_root"


@dataclass(frozen=True)
class BundleConfig:
    """A bundle's merged config (metadata under ``_meta_``, as MONAI keeps it) and where each part came from."""

    root: Path
    files: tuple[Path, ...]
    metadata_file: Path
    config: dict[str, Any]
    metadata: dict[str, Any]
    origins: dict[str, Path] = field(default_factory=dict)
    issues: tuple[ConfigIssue, ...] = ()
    legacy: tuple[LegacyArgument, ...] = ()  # arguments today's MONAI lacks, rewritten (runner.bundle.legacy)
    conflicts: tuple[Conflict, ...] = ()

    def legacy_issues(self) -> list[ConfigIssue]:
        """The rewrites as warnings and the conflicts as errors, each in the file that set the item."""
        return [entry.issue(self.file_of(entry.item_id)) for entry in (*self.legacy, *self.conflicts)]

    def display(self, path: Path) -> str:
        """A path as users see it: relative to the bundle root where possible."""
        return _shown(self.root, path)

    def parser(self) -> Any:
        """A MONAI ``ConfigParser`` over a copy of the merged config, for id lookups (never for parsing content)."""
        from monai.bundle import ConfigParser

        return ConfigParser(config=copy.deepcopy(self.config))

    def file_of(self, config_id: str) -> str:
        """The file that set the top-level item ``config_id`` belongs to (the last one, when merged)."""
        top = config_id.replace("#", "::").split("::", 1)[0]
        if top == META_KEY:
            return self.display(self.metadata_file)
        return self.display(self.origins.get(top, self.files[-1]))


def load_config_file(path: Path, shown: str) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """One config file through MONAI's reader; duplicate keys (a MONAI warning) become errors.

    Raises:
        MmarLayoutError: the file is missing, not JSON/YAML, or not a mapping.
    """
    from monai.bundle import ConfigParser

    if not path.is_file():
        raise MmarLayoutError(f"{shown}: config file not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            content = ConfigParser.load_config_file(path)
        except (*_not_config_errors(), ValueError, UnicodeDecodeError) as exc:
            raise MmarLayoutError(f"{shown}: not a valid config file: {exc}") from exc
    if not isinstance(content, dict):
        raise MmarLayoutError(f"{shown}: expected a mapping of ids to items, got {type(content).__name__}")
    issues = [ConfigIssue(shown, "", str(w.message).rstrip(".") + " (a later one silently replaces the earlier)")
              for w in caught if "Duplicate key" in str(w.message)]
    return content, issues


def _not_config_errors() -> tuple[type[Exception], ...]:
    """What MONAI's reader raises for a file that is not JSON or YAML (PyYAML, imported when a file is read)."""
    import yaml

    return (json.JSONDecodeError, yaml.YAMLError)


def load_bundle(root: Path, config_files: Sequence[Path], metadata_file: Path,
                overrides: Sequence[BundleOverride] = ()) -> BundleConfig:
    """Read and merge ``config_files`` (in order), the ``--set`` overrides and the metadata into one :class:`BundleConfig`.

    ``bundle_root`` is set to the bundle folder when the configs do not set it: the runner
    passes it, as ``monai.bundle run --bundle_root`` does. Arguments today's MONAI removed or
    renamed are rewritten (:mod:`runner.bundle.legacy`), as a run rewrites them. An override whose id does not
    exist is exit 2 here, before anything else is checked.
    """
    from monai.bundle import ConfigParser
    from monai.bundle.utils import merge_kv

    issues: list[ConfigIssue] = []
    origins: dict[str, Path] = {}
    merged = ConfigParser(config={})
    for path in config_files:
        shown = _shown(root, path)
        content, found = load_config_file(path, shown)
        issues.extend(found)
        for key, value in content.items():
            try:
                merge_kv(merged, key, value)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                issues.append(ConfigIssue(shown, key.replace("::", "#"), f"cannot merge into the earlier files: {exc}"))
                continue
            origins[key.lstrip("+").replace("#", "::").split("::", 1)[0]] = path
    metadata, found = load_config_file(metadata_file, _shown(root, metadata_file))
    issues.extend(found)
    config = copy.deepcopy(merged.get())
    check_override_ids(overrides, config)
    apply_overrides(config, overrides)
    legacy, conflicts = rewrite_legacy_arguments(config)
    for override in overrides:
        origins[override.config_id.split("#", 1)[0]] = Path(SET_WHERE)
    config.setdefault(BUNDLE_ROOT_ID, str(root))
    config[META_KEY] = copy.deepcopy(metadata)
    return BundleConfig(root, tuple(config_files), metadata_file, config, metadata, origins, tuple(issues), tuple(legacy),
                        tuple(conflicts))


def _shown(root: Path, path: Path) -> str:
    if path == Path(SET_WHERE):
        return SET_WHERE
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
