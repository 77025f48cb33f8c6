"""Which run wrote a checkpoint: told by the manifests beside it, the current one and the history.

A completed training run records the sha256 of every model file it wrote (``output_digests``). A
command that reads a checkpoint (validate, infer, export, finetune) looks the file's bytes up in
the manifests of its folder, ``run_manifest.json`` first, then ``history/``, and says which run
wrote it, or that none recorded there did (a file copied in, or left by a run that failed). Bytes,
not paths: the same folder is /out in a pod and models/ on the host.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.manifest import MANIFEST_NAME, file_digest

logger = logging.getLogger(__name__)

HISTORY_DIR = "history"  # earlier runs' manifests: <stem>.<started_at>.json (runner.workflow.session)


@dataclass(frozen=True)
class Origin:
    """A checkpoint file and the run (manifest) that wrote it, if one recorded beside it did."""

    path: Path
    sha256: str
    manifest: Path | None = None
    command: str | None = None
    started_at: str | None = None
    status: str | None = None

    def as_data(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "written_by": str(self.manifest) if self.manifest else None,
                "written_by_started_at": self.started_at}

    def render(self) -> str:
        if self.manifest is None:
            return (f"checkpoint {self.path}: no run recorded in {self.path.parent} wrote it "
                    "(not listed with these bytes in its run_manifest.json or history/)")
        return f"checkpoint {self.path}: written by the {self.command} run started {self.started_at} ({self.manifest})"


def manifests_beside(folder: Path) -> list[Path]:
    """The folder's run manifest, then its history, newest first."""
    found = [folder / MANIFEST_NAME] if (folder / MANIFEST_NAME).is_file() else []
    history = folder / HISTORY_DIR
    if history.is_dir():
        found += sorted(history.glob("*.json"), reverse=True)
    return found


def checkpoint_origin(path: Path) -> Origin:
    """The run that wrote ``path``, found by its bytes in the manifests beside it."""
    digest = file_digest(path)
    for manifest_path in manifests_beside(path.parent):
        manifest = _read(manifest_path)
        if digest in (manifest.get("output_digests") or {}).values():
            return Origin(path, digest, manifest_path, manifest.get("command"), manifest.get("started_at"), manifest.get("status"))
    return Origin(path, digest)


def report_checkpoint(path: Path) -> dict[str, Any] | None:
    """Log which run wrote the checkpoint a command reads, and return it for that command's manifest."""
    if not path.is_file():
        return None
    origin = checkpoint_origin(path)
    if origin.manifest is None:
        logger.warning("%s", origin.render())
    else:
        logger.info("%s", origin.render())
    return origin.as_data()


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
