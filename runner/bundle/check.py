"""``mmar check BUNDLE``: every problem a bundle's configs show before anything runs, all at once.

Order of the checks (each reads the merged config; none evaluates, instantiates or imports the
bundle's own code):

1. layout and reading (MONAI's reader, duplicate keys as errors), arguments today's MONAI lacks
   rewritten as a run rewrites them (warnings),
2. metadata required fields,
3. ``$`` strings are valid Python; ``$import`` names installed modules,
4. ``@id`` references and ``%`` macros point at existing ids and files,
5. ``_target_`` names exist and their arguments fit the signature,
6. glob patterns and JSON datalists match files; with ``inspect_data`` (``--data``) every file they
   list is opened (headers, shapes, label values), still without running the bundle.

Issues come back as ``FILE: ID: message``; any error raises :class:`ConfigError` (exit 2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.bundle.components import check_components
from runner.bundle.data_check import inspect_bundle_data
from runner.bundle.expressions_check import check_expressions
from runner.bundle.inputs import check_inputs
from runner.bundle.layout import BUNDLE_METADATA, Kind, detect_layout
from runner.bundle.load import BundleConfig, load_bundle
from runner.bundle.metadata import check_metadata
from runner.bundle.overrides import BundleOverride
from runner.bundle.references import check_references
from runner.errors import ConfigError, ConfigIssue, MmarLayoutError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleCheck:
    """A bundle that passed: what was read, and the warnings (what could not be checked statically)."""

    bundle: BundleConfig
    warnings: tuple[ConfigIssue, ...]


def config_paths(root: Path, default: Path, configs: str | None) -> list[Path]:
    """The config files to merge: ``-c a.json,b.json`` (relative to the bundle root), else the train config."""
    if not configs:
        return [default]
    return [p if p.is_absolute() else root / p for p in (Path(c.strip()) for c in configs.split(",") if c.strip())]


def check_bundle(root: str | Path, configs: str | None = None, overrides: Sequence[BundleOverride] = (),
                 inspect_data: bool = False) -> BundleCheck:
    """Check the bundle at ``root`` statically, with the ``--set`` overrides a run would apply.

    Raises:
        MmarLayoutError: ``root`` is not a bundle, or a config file cannot be read.
        ConfigError: every error found, with the warnings of the same pass.
    """
    layout = detect_layout(root)
    if layout.kind is not Kind.BUNDLE or layout.train_config is None:
        raise MmarLayoutError(f"{root}: not a MONAI bundle (it has an MMAR's config/ folder)")
    bundle_root = layout.root.resolve()
    bundle = load_bundle(bundle_root, config_paths(bundle_root, layout.train_config, configs),
                         bundle_root / BUNDLE_METADATA, overrides)
    input_issues, inputs = check_inputs(bundle)
    issues = [*bundle.issues, *bundle.legacy_issues(), *check_metadata(bundle.metadata, bundle.display(bundle.metadata_file)),
              *check_expressions(bundle), *check_references(bundle), *check_components(bundle),
              *input_issues]
    if inspect_data:
        issues += inspect_bundle_data(bundle, inputs)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigError(issues)
    return BundleCheck(bundle, tuple(issues))
