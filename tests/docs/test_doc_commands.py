"""Every command the docs show is run here, exactly as printed, and must do what the docs say.

Each doc file's local blocks run in order in its own fresh copy of the repository
(tests/docs/sandbox.py: nothing in it edited, no data until a page's command makes it), so a page
reads as a session: data made near the top is there for the commands below it. Blocks marked
``docker`` run in tests/image/test_doc_commands_docker.py on the test engine; ``ci`` is the CI
command; ``needs=...`` blocks need what no test machine has, and each of their commands is in
NOT_RUN below with the reason, so that none hides.
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


NEEDS_WORD = {"gpu": "GPU", "cluster": "Kubernetes", "network": "network", "dataset": "data set"}
# Every command the docs show that no test machine can run, and why: the reviewer's list. A needs= block
# that is not here (or an entry here that no page shows any more) fails the test below.
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "kubectl apply -f spleen.yaml"):
        "a Kubernetes cluster; the manifest is made by the block above it, and test_two_nodes.py runs its two pods' containers",
    ("docs/SCALING.md", "kubectl apply -f spleen.yaml"): "a Kubernetes cluster (as the README's)",
    ("docs/SCALING.md", "kubectl logs -f job/mmar-spleen-ct-seg"): "a Kubernetes cluster running that Job",
    ("docs/DOCKER.md", "docker run --gpus all -v /data/spleen:/data -v $PWD/out:/out spleen:1.0 "
                       "--environment config/environment_decathlon.json"):
        "a GPU, the CUDA image (3 GB of wheels) and the Decathlon data; the CPU image runs the tour's docker blocks",
    ("docs/DOCKER.md", "docker run --gpus all spleen:1.0 --set epochs=5"): "a GPU and the CUDA image",
    ("docs/DOCKER.md", "make run TAG=spleen:1.0 DATA_DIR=/data/spleen OUT=$PWD/out GPUS=all"): "a GPU and the CUDA image",
    ("docs/DOCKER.md", "python -m runner.image.lock --flavour cpu --constraint runner/image/requirements-cpu.lock"):
        "PyPI and the torch index (network), and it rewrites the shipped lock; tests/unit check the lock's reading",
    ("docs/DOCKER.md", "python -m runner.image.lock --flavour cuda --constraint runner/image/requirements-cpu.lock"):
        "PyPI (network), and it rewrites the shipped lock",
    ("docs/SCALING.md", "mmar train bundles/spleen_ct_seg --set multi_gpu=True"):
        "GPUs (NCCL); the same code path runs on CPU with gloo in the block above it",
    ("docs/SCALING.md", "bundles/spleen_ct_seg/commands/train_multi_gpu.sh"): "GPUs (NCCL), as the line above",
    ("docs/SCALING.md", "docker run --gpus all spleen:1.0 --nproc 8"): "8 GPUs and the CUDA image",
    ("bundles/spleen_ct_seg/docs/Readme.md", "mmar train bundles/spleen_ct_seg -e config/environment_decathlon.json"):
        "the Decathlon Task09_Spleen data set (hours on a GPU); the block above it runs the same recipe one iteration on "
        "synthetic volumes of full size",
}


def test_commands_no_test_machine_can_run_are_few_and_named() -> None:
    """A GPU, a Kubernetes cluster, the package index, the real Decathlon data: each command is in NOT_RUN with why."""
    shown = {(str(b.file.relative_to(REPO)), c.command): b.runs.removeprefix("needs=")
             for b in all_blocks() if b.runs.startswith("needs=") for c in b.commands}
    assert set(shown) == set(NOT_RUN), {"shown but not listed": sorted(set(shown) - set(NOT_RUN)),
                                        "listed but not shown": sorted(set(NOT_RUN) - set(shown))}
    assert len(NOT_RUN) <= 14
    for key, needs in shown.items():
        assert NEEDS_WORD[needs] in NOT_RUN[key], f"{key}: the reason should say what it needs ({needs})"


@pytest.mark.slow
@pytest.mark.parametrize("doc", LOCAL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_doc_commands_run_as_shown(doc: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    root = make_sandbox(tmp_path / "repo")
    # The reader's tracking server: TRACKING.md's commands log to it (MLFLOW_TRACKING_URI, as the page says to set).
    # Only that page starts one: the others' readers have none.
    tracking = doc.name == "TRACKING.md"
    env = sandbox_env({"MLFLOW_TRACKING_URI": request.getfixturevalue("mlflow_uri")}) if tracking else sandbox_env()
    failures = run_page(doc, WHERE_LOCAL, root, env)
    assert not failures, "\n\n".join(failures)
