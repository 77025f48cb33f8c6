"""The MMAR (or MONAI bundle) part of an image's build context: that folder and nothing else.

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

A MONAI bundle is staged by the same rules (:func:`bundle_rules`): its root's ``data/``,
``models/`` and ``eval/``, the folders its configs write to, and the runner's lock files at any
depth stay out; ``scripts/`` is code and goes in.
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
RUN_STATE = {".mmar-run.lock": "run state", ".mmar-reserve": "run state"}  # runner.workflow.session's files, at any depth
SECRET_FILES = ("id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
                ".netrc", ".git-credentials", ".pypirc", ".npmrc", ".env", ".env.*", ".envrc", "credentials*.json", ".htpasswd")
SECRET_FOLDERS = (".ssh", ".gnupg", ".aws", ".azure", ".gcloud", ".oci")
SECRET_PATHS = (".docker/config.json", ".kube/config", ".config/gcloud")  # a file or folder at this relative path, at any depth
NOT_SHIPPED = {".git": "version control", ".hg": "version control", ".svn": "version control", "__pycache__": "cache",
               ".pytest_cache": "cache", ".ipynb_checkpoints": "cache", ".dockerignore": "build control"}


@dataclass(frozen=True)
class StageRules:
    """What a format leaves out by rule, beyond secrets, version control and caches."""

    what: str = "MMAR"  # how messages name the folder
    root_only: dict[str, str] = field(default_factory=lambda: dict(ROOT_ONLY))  # top-level name -> why it stays out
    kept_empty: tuple[str, ...] = KEPT_EMPTY
    anywhere: dict[str, str] = field(default_factory=dict)  # a file or folder name, at any depth -> why


MMAR_RULES = StageRules()


def bundle_rules(output_folders: tuple[str, ...] = ()) -> StageRules:
    """A bundle's rules: the MMAR's, the top-level folders its configs write to (``runs/``...), and lock files."""
    return StageRules("bundle", {**ROOT_ONLY, **dict.fromkeys(output_folders, "outputs")}, KEPT_EMPTY, dict(RUN_STATE))


@dataclass
class StagedMmar:
    """What went into the context, and what was left out with why."""

    left_out: list[tuple[str, str]] = field(default_factory=list)  # (path relative to the MMAR, reason)
    outside_links: list[tuple[str, str]] = field(default_factory=list)  # (link, its target)


def reason_to_leave_out(relative: str, is_dir: bool, rules: StageRules = MMAR_RULES) -> str | None:
    """Why a path of the MMAR (or bundle) must not go into the image, or None to copy it."""
    parts = relative.split("/")
    if len(parts) == 1 and parts[0] in rules.root_only:
        return rules.root_only[parts[0]]
    if parts[-1] in rules.anywhere:
        return rules.anywhere[parts[-1]]
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


def stage_mmar(source: Path, target: Path, allow_outside_links: bool = False, rules: StageRules = MMAR_RULES) -> StagedMmar:
    """Copy the MMAR (or bundle) at ``source`` into ``target`` by the rules above.

    Raises:
        ConfigError: symbolic links that point outside the folder (unless allowed), all listed.
    """
    root = source.resolve()
    staged = StagedMmar()
    _copy_folder(root, root, target, staged, allow_outside_links, seen={root}, rules=rules)
    if staged.outside_links and not allow_outside_links:
        what = rules.what
        raise ConfigError([ConfigIssue(link, "", f"a symbolic link to {where}, outside the {what}: an image gets the {what} and "
                                       f"nothing of the host", hint=f"copy what it points to into the {what}, or build with "
                                       "--allow-outside-links if the image must hold it")
                           for link, where in staged.outside_links])
    for folder in rules.kept_empty:
        (target / folder).mkdir(exist_ok=True)
    return staged


def _copy_folder(root: Path, folder: Path, target: Path, staged: StagedMmar, allow_outside: bool, seen: set[Path],
                 shown_as: str = "", rules: StageRules = MMAR_RULES) -> None:
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
        reason = reason_to_leave_out(relative, kind == "dir", rules)
        if reason is not None:
            staged.left_out.append((relative, reason))
            continue
        destination = target / entry.name
        if kind == "dir":
            real = path.resolve()
            if real in seen:  # a link back up the tree
                staged.left_out.append((relative, "a symbolic link loop"))
                continue
            _copy_folder(root, path, destination, staged, allow_outside, seen | {real}, relative, rules)
        else:
            shutil.copyfile(path, destination)
            os.chmod(destination, 0o644 | (0o111 if os.access(path, os.X_OK) else 0))
