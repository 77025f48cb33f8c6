"""The docs' ``console docker`` blocks (README tour, DOCKER.md), run exactly as printed on the test engine.

The sandbox's shell has what a user's site would configure once: DOCKER_HOST (the test engine),
MMAR_BASE_IMAGE (the Debian base the tests make; NVIDIA's registry is not reachable here) and
MMAR_WHEELHOUSE plus pip's PIP_FIND_LINKS/PIP_NO_INDEX pointing at the locked wheels already
downloaded, so the builds are air-gapped and `pip download` of the lock reads them locally; and
MMAR_IMAGE_FLAVOUR=cpu: the default CUDA flavour downloads about 3 GB and makes a 5.5 GB image, which
CI cannot afford on every run (bench/bench_image.py --flavour cuda measures that build; the README says so).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.sandbox import make_sandbox, run_doc_command, run_page, sandbox_env
from tests.docs.snippets import REPO, WHERE_DOCKER, blocks, doc_files

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCKER_FILES = [path for path in doc_files() if any(b.runs == WHERE_DOCKER for b in blocks(path))]


@pytest.mark.parametrize("doc", DOCKER_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_docker_doc_commands_run_as_shown(doc: Path, docker_host: str, base_image: str, wheelhouse: Path, tmp_path: Path) -> None:
    root = make_sandbox(tmp_path / "repo")
    env = sandbox_env({"DOCKER_HOST": docker_host, "MMAR_BASE_IMAGE": base_image, "MMAR_WHEELHOUSE": str(wheelhouse),
                       "PIP_FIND_LINKS": str(wheelhouse), "PIP_NO_INDEX": "1",
                       "MMAR_IMAGE_FLAVOUR": "cpu"})
    data = root / "bundles" / "spleen_ct_seg" / "commands" / "make_data.sh"
    assert run_doc_command_text(data, root, env) is None
    failures = run_page(doc, WHERE_DOCKER, root, env)
    assert not failures, "\n\n".join(failures)


def run_doc_command_text(script: Path, root: Path, env: dict[str, str]) -> str | None:
    """The data the tour made in the page before (the docker blocks mount it)."""
    from tests.docs.snippets import DocCommand

    return run_doc_command(DocCommand(script, 0, str(script.relative_to(root))), root, env)
