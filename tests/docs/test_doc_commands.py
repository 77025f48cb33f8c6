"""Every command the docs show is run here, exactly as printed, and must do what the docs say.

Each doc file's local blocks run in order in one sandbox (tests/docs/sandbox.py), so a page reads
as a session: data made near the top is there for the commands below it. Blocks marked
``docker`` run in tests/image/test_doc_commands_docker.py on the test engine; ``ci`` is the CI
command; ``needs=gpu`` / ``needs=cluster`` need hardware no test machine has, and are counted here
so that none hides.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.sandbox import make_sandbox, run_page, sandbox_env
from tests.docs.snippets import (
    NEEDS_ALLOWED,
    REPO,
    WHERE_CI,
    WHERE_DOCKER,
    WHERE_LOCAL,
    all_blocks,
    blocks,
    doc_files,
    indented_commands,
)

LOCAL_FILES = [path for path in doc_files() if any(b.runs == WHERE_LOCAL and b.commands for b in blocks(path))]


def test_every_command_in_the_docs_is_in_a_checked_block() -> None:
    """No command hides in indented code, every block says where it runs, and needs= names an allowed reason."""
    stray = {str(path.relative_to(REPO)): indented_commands(path) for path in doc_files()}
    assert not {k: v for k, v in stray.items() if v}, "commands outside ```console blocks (not run by any test)"
    for block in all_blocks():
        assert block.commands, f"{block.file}:{block.line}: a console block without a $ command"
        assert block.runs in (WHERE_LOCAL, WHERE_DOCKER, WHERE_CI) or (
            block.runs.startswith("needs=") and block.runs.removeprefix("needs=") in NEEDS_ALLOWED
        ), f"{block.file}:{block.line}: unknown block kind {block.runs!r}"


def test_the_ci_block_is_what_ci_runs() -> None:
    ci_script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [c.command for b in all_blocks() if b.runs == WHERE_CI for c in b.commands]
    assert commands == ["make test"]
    assert "\nmake test\n" in ci_script


def test_commands_no_test_machine_can_run_are_few_and_named() -> None:
    """A GPU (or the CUDA wheels), a Kubernetes cluster, the real Decathlon data: the list is short and deliberate."""
    unrunnable = sorted(f"{b.runs}: {c.command}" for b in all_blocks() if b.runs.startswith("needs=") for c in b.commands)
    assert len(unrunnable) <= 14, unrunnable
    for line in unrunnable:
        if line.startswith("needs=cluster"):
            assert "kubectl" in line
        elif line.startswith("needs=dataset"):
            assert "Task09_Spleen" in line


@pytest.mark.slow
@pytest.mark.parametrize("doc", LOCAL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_doc_commands_run_as_shown(doc: Path, tmp_path: Path, mlflow_uri: str) -> None:
    root = make_sandbox(tmp_path / "repo")
    # The reader's tracking server: TRACKING.md's commands log to it (MLFLOW_TRACKING_URI, as the page says to set).
    env = sandbox_env({"MLFLOW_TRACKING_URI": mlflow_uri}) if doc.name == "TRACKING.md" else sandbox_env()
    failures = run_page(doc, WHERE_LOCAL, root, env)
    assert not failures, "\n\n".join(failures)
