"""The MMAR part of an image's build context: the MMAR and nothing else.

What the image gets is the MMAR's own files, so:

* **No path of the host outside the MMAR.** A symbolic link that points inside the MMAR is copied
  as what it points to; one that points outside it is refused (exit 2, naming each), unless the
  build is told to allow it (``--allow-outside-links``), when its target's content is copied.
* **Data and outputs stay out, by anchored rule.** ``data/``, ``models/`` and ``eval/`` at the MMAR
  root are left out (the image gets empty ``models/`` and ``eval/``); ``custom/models/`` and any
  other package under ``custom/`` are code and kept.
* **No secrets, at any depth, whatever the case of their names**: private keys, credential files
  and folders (the :data:`SECRET_FILES` and :data:`SECRET_FOLDERS` lists), and version control and
  caches. Everything left out is listed, so the build output says what the image does not hold.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import ConfigError, ConfigIssue

ROOT_ONLY = {"data": "data", "models": "outputs", "eval": "outputs"}  # left out at the MMAR root only
KEPT_EMPTY = ("models", "eval")
SECRET_FILES = ("id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
                ".netrc", ".git-credentials", ".pypirc", ".npmrc", ".env", ".env.*", ".envrc", "credentials*.json", ".htpasswd")
SECRET_FOLDERS = (".ssh", ".gnupg", ".aws", ".azure", ".gcloud", ".oci")
SECRET_PATHS = (".docker/config.json", ".kube/config", ".config/gcloud")  # a file or folder at this relative path, at any depth
NOT_SHIPPED = {".git": "version control", ".hg": "version control", ".svn": "version control", "__pycache__": "cache",
               ".pytest_cache": "cache", ".ipynb_checkpoints": "cache", ".dockerignore": "build control"}


@dataclass
class StagedMmar:
    """What went into the context, and what was left out with why."""

    left_out: list[tuple[str, str]] = field(default_factory=list)  # (path relative to the MMAR, reason)
    outside_links: list[tuple[str, str]] = field(default_factory=list)  # (link, its target)


def reason_to_leave_out(relative: str, is_dir: bool) -> str | None:
    """Why a path of the MMAR must not go into the image, or None to copy it."""
    parts = relative.split("/")
    if len(parts) == 1 and parts[0] in ROOT_ONLY:
        return ROOT_ONLY[parts[0]]
    lowered = [p.lower() for p in parts]
    name = lowered[-1]
    if name in NOT_SHIPPED:
        return NOT_SHIPPED[name]
    if not is_dir and name.endswith(".pyc"):
        return "cache"
    joined = "/".join(lowered)
    if any(joined == secret or joined.endswith("/" + secret) for secret in SECRET_PATHS):
        return "looks like a secret"
    if is_dir and name in SECRET_FOLDERS:
        return "looks like a secret"
    if not is_dir and any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_FILES):
        return "looks like a secret"
    return None


def stage_mmar(source: Path, target: Path, allow_outside_links: bool = False) -> StagedMmar:
    """Copy the MMAR at ``source`` into ``target`` by the rules above.

    Raises:
        ConfigError: symbolic links that point outside the MMAR (unless allowed), all listed.
    """
    root = source.resolve()
    staged = StagedMmar()
    _copy_folder(root, root, target, staged, allow_outside_links, seen={root})
    if staged.outside_links and not allow_outside_links:
        raise ConfigError([ConfigIssue(link, "", f"a symbolic link to {where}, outside the MMAR: an image gets the MMAR and "
                                       "nothing of the host", hint="copy what it points to into the MMAR, or build with "
                                       "--allow-outside-links if the image must hold it")
                           for link, where in staged.outside_links])
    for folder in KEPT_EMPTY:
        (target / folder).mkdir(exist_ok=True)
    return staged


def _copy_folder(root: Path, folder: Path, target: Path, staged: StagedMmar, allow_outside: bool, seen: set[Path],
                 shown_as: str = "") -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        relative = f"{shown_as}/{entry.name}" if shown_as else str(entry.relative_to(root))
        path, kind = entry, "dir" if entry.is_dir() else "file"
        if entry.is_symlink():
            resolved = entry.resolve()
            if not resolved.exists():
                staged.left_out.append((relative, "a broken symbolic link"))
                continue
            if not resolved.is_relative_to(root):
                staged.outside_links.append((relative, str(resolved)))
                if not allow_outside:
                    continue
            path, kind = resolved, "dir" if resolved.is_dir() else "file"
        reason = reason_to_leave_out(relative, kind == "dir")
        if reason is not None:
            staged.left_out.append((relative, reason))
            continue
        destination = target / entry.name
        if kind == "dir":
            real = path.resolve()
            if real in seen:  # a link back up the tree
                staged.left_out.append((relative, "a symbolic link loop"))
                continue
            _copy_folder(root, path, destination, staged, allow_outside, seen | {real}, relative)
        else:
            shutil.copyfile(path, destination)
            os.chmod(destination, 0o644 | (0o111 if os.access(path, os.X_OK) else 0))
