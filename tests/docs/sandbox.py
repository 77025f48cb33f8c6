"""A throwaway copy of the parts of the repository the docs' commands touch, with ``mmar`` on PATH.

Commands run exactly as the docs print them, from the copy's root. Only sizes change: the demo
bundle's environment.json gains the test sizes (environment.json outranks the config's own
variables, and a ``--set`` in a doc command still outranks both), so a doc command that trains
takes seconds instead of the bundle's full-scale hours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINY_SET
from tests.docs.snippets import REPO, DocCommand, blocks

VENV_BIN = Path(sys.executable).parent
COPIED = ("bundles", "Makefile", "pyproject.toml", "tests/fixtures/legacy_mmar", "tests/fixtures/bundles", "docs/examples", "runner/image/requirements-cpu.lock")
OUTPUTS = ("data", "models", "eval")
TEST_SIZES = {word.split("=", 1)[0]: json.loads(word.split("=", 1)[1]) for word in [*TINY_SET, "epochs=1"]}
COMMAND_TIMEOUT_S = 600


def make_sandbox(root: Path) -> Path:
    """Copy what the docs use into ``root``; bundles without their data and outputs."""
    for name in COPIED:
        source = REPO / name
        target = root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=_outputs, copy_function=shutil.copy2)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # keeps mtimes: make sees the venv as up to date
    _never_newer_than_the_venv(root / "pyproject.toml")
    environment = root / "bundles" / "spleen_ct_seg" / "config" / "environment.json"
    values = json.loads(environment.read_text(encoding="utf-8"))
    environment.write_text(json.dumps({**values, **TEST_SIZES}, indent=2), encoding="utf-8")
    return root


def _never_newer_than_the_venv(pyproject: Path) -> None:
    """A doc command's ``make`` must not reinstall the shared venv from the sandbox (pointing its
    editable install at a folder that is about to be deleted) because pyproject.toml was edited
    after the last ``make install``: the copy gets the install stamp's time."""
    stamp = VENV_BIN.parent / ".installed"
    if stamp.is_file():
        os.utime(pyproject, ns=(stamp.stat().st_atime_ns, stamp.stat().st_mtime_ns))


def _outputs(folder: str, names: list[str]) -> list[str]:
    """copytree filter: empty each bundle's data/, models/ and eval/ (what earlier runs left there)."""
    here = Path(folder)
    if here.name in OUTPUTS and here.parent.parent == REPO / "bundles":
        return [n for n in names if n != ".gitkeep"]
    return []


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The user's shell: the venv's ``mmar`` first on PATH, the real venv for make, no hash-seed pin."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "MMAR_NO_REEXEC")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VENV"] = str(VENV_BIN.parent)
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
