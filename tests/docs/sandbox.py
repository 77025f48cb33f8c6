"""A fresh copy of the repository in which the docs' commands run exactly as printed, from its root.

The copy is what a reader has after ``git clone`` and ``make install``, and differs from it only
where the reader's machine would:

* its files are the repository's as git sees them (tracked ones, and new ones not yet committed),
  so no data set, model or evaluation output of earlier runs: a page makes its data with the
  documented command;
* ``.venv`` is a link to the test run's virtual environment, already installed (``make`` finds it
  up to date, see :func:`_never_newer_than_the_venv`), and ``mmar`` comes first on PATH, as after
  ``source .venv/bin/activate``;
* the test process's own pins (``PYTHONHASHSEED``, ``MMAR_NO_REEXEC``) are not in the shell.

Nothing in the copy is edited: the demo bundle runs with its own config and environment.json.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.docs.snippets import REPO, DocCommand, blocks

VENV_BIN = Path(sys.executable).parent
VENV_LINK = ".venv"
COMMAND_TIMEOUT_S = 900


def make_sandbox(root: Path) -> Path:
    """Copy the repository's files (as git lists them) into ``root`` and link its ``.venv``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative in checkout_files():
        source = REPO / relative
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)  # keeps mtimes, as a checkout's make sees them
    (root / VENV_LINK).symlink_to(VENV_BIN.parent, target_is_directory=True)
    _never_newer_than_the_venv(root / "pyproject.toml")
    return root


def checkout_files() -> list[str]:
    """The files a clone of this working tree has: tracked and untracked-but-not-ignored, present on disk.

    Generated data (``bundles/*/data/``), models and ``.venv`` are ignored by git, so they stay out.
    """
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode()
    names = sorted({name for name in listed.split("\0") if name})
    return [name for name in names if name != VENV_LINK and (REPO / name).is_file()]


def _never_newer_than_the_venv(pyproject: Path) -> None:
    """A doc command's ``make`` must not reinstall the shared venv from the sandbox (pointing its
    editable install at a folder that is about to be deleted) because pyproject.toml was edited
    after the last ``make install``: the copy gets the install stamp's time."""
    stamp = VENV_BIN.parent / ".installed"
    if stamp.is_file():
        os.utime(pyproject, ns=(stamp.stat().st_atime_ns, stamp.stat().st_mtime_ns))


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The reader's shell after ``source .venv/bin/activate``: the venv's ``mmar`` first on PATH, no hash-seed pin."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "MMAR_NO_REEXEC", "VENV")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def run_doc_command(command: DocCommand, cwd: Path, env: dict[str, str]) -> str | None:
    """Run one doc command with bash from ``cwd``; None if it behaved as the doc says, else why not."""
    done = subprocess.run(["bash", "-c", command.command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    output = done.stdout
    if done.returncode != command.exit_code:
        return (f"{command.where}: `{command.command}` exited {done.returncode}, the doc says {command.exit_code}\n"
                f"{output[-3000:]}")
    mismatch = command.output_mismatch(output)
    if mismatch:
        return f"{command.where}: `{command.command}`: {mismatch}\n--- output ---\n{output[-3000:]}"
    return None


def run_page(doc: Path, where: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """Run the ``where`` blocks of one page in order; stop a block at its first failure (later
    commands of the page may depend on it). Returns the failures."""
    failures = []
    for block in blocks(doc):
        if block.runs != where:
            continue
        for command in block.commands:
            problem = run_doc_command(command, cwd, env)
            if problem:
                failures.append(problem)
                break
    return failures
