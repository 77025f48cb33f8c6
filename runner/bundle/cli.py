"""What the CLI asks of the bundle package: dispatch ``mmar check``, refuse bundles where a command is an MMAR's.

``finetune``, ``export`` and ``migrate`` are MMAR commands: given a bundle they say so (exit 2),
naming the commands that take one, instead of reading it as a broken MMAR.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from runner.bundle.layout import NO_ENVIRONMENT, Kind, detect_layout, looks_like_bundle
from runner.errors import ConfigError, ConfigIssue, MmarRunnerError

logger = logging.getLogger(__name__)

BUNDLES_DOC = "docs/BUNDLES.md says what works with bundles today"
BUNDLE_COMMANDS = ("check", "train", "verify", "validate", "infer", "diff", "show", "build", "k8s")


def is_bundle(root: Path, mmar_config: str | None = None) -> bool:
    """True for a bundle; False for an MMAR, or for a folder the MMAR loader reports on as before.

    A folder without ``config/`` given ``-c`` (an MMAR config elsewhere) stays on the MMAR path.

    Raises:
        MmarLayoutError: the folder exists but is neither (the message names what is missing).
    """
    if not root.is_dir() or (root / "config").is_dir():
        return False
    if mmar_config and not (root / "configs").is_dir():
        return False
    return detect_layout(root).kind is Kind.BUNDLE


def refuse_bundle(root: Path) -> None:
    """Exit 2 when a command that does not take bundles (finetune, export, migrate) is given one."""
    if looks_like_bundle(root):
        raise MmarRunnerError(f"{root}: a MONAI bundle (configs/); this command does not take bundles: "
                              f"{', '.join(BUNDLE_COMMANDS[:-1])} and {BUNDLE_COMMANDS[-1]} do",
                              hint=f"a bundle fine-tunes by loading a checkpoint in its own config and exports with "
                                   f"python -m monai.bundle ckpt_export; {BUNDLES_DOC}")


def check_bundle_command(root: Path, configs: str | None, environment: str | None, set_words: Sequence[str],
                         data: bool) -> str:
    """``mmar check BUNDLE``: the one-line summary; warnings are logged, errors raised (exit 2)."""
    from runner.bundle.check import check_bundle
    from runner.bundle.overrides import parse_overrides

    if environment:
        raise MmarRunnerError(NO_ENVIRONMENT)
    try:
        result = check_bundle(root, configs, parse_overrides(set_words), inspect_data=data)
    except ConfigError as exc:  # the errors are the exit message; what was not checked is said beside them
        _log_warnings(exc.issues)
        raise
    _log_warnings(result.warnings)
    bundle = result.bundle
    files = ", ".join(bundle.display(f) for f in bundle.files)
    return f"ok: {bundle.root} (MONAI bundle; {files}; nothing was run)"


def _log_warnings(issues: Sequence[ConfigIssue]) -> None:
    for issue in issues:
        if issue.severity == "warning":
            logger.warning("%s", issue.render())
