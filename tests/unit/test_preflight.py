"""Host checks before training in a container, on described hosts (no GPU needed)."""

from __future__ import annotations

import pytest

from runner.errors import HOST_UNSUITABLE_EXIT, HostError
from runner.image.preflight import HostFacts, check_host

H100 = HostFacts("12.8", 1, (9, 0), "NVIDIA H100", ["sm_80", "sm_86", "sm_90", "compute_90"], (12, 8))


def test_cpu_requests_and_cpu_builds_run_on_cpu() -> None:
    assert check_host(H100, use_gpu=False) == "cpu"
    assert check_host(HostFacts(None, 0, None, None, [], None), use_gpu=True) == "cpu"


def test_a_matching_gpu_is_used() -> None:
    assert check_host(H100, use_gpu=True) == "cuda"
    ada = HostFacts("12.8", 1, (8, 9), "L4", ["sm_80", "sm_86"], (12, 8))
    assert check_host(ada, use_gpu=True) == "cuda", "sm_86 binaries run on 8.9 (same major, lower minor)"


@pytest.mark.parametrize(("facts", "words"), [
    (HostFacts("12.8", 0, None, None, ["sm_90"], (12, 8)), ["none is visible", "--gpus all", "use_gpu=False"]),
    (HostFacts("12.8", 1, (7, 0), "V100", ["sm_80", "sm_90"], (12, 8)), ["compute capability 7.0", "sm_80 sm_90"]),
    (HostFacts("12.8", 1, (9, 0), "H100", ["sm_90"], (11, 4)), ["driver supports CUDA 11.4", "needs CUDA 12.8"]),
])
def test_unsuitable_hosts_get_one_clear_message(facts: HostFacts, words: list[str]) -> None:
    with pytest.raises(HostError) as caught:
        check_host(facts, use_gpu=True)
    assert caught.value.exit_code == HOST_UNSUITABLE_EXIT
    assert all(word in caught.value.render() for word in words), caught.value.render()


def test_container_argv_defaults_and_user_words(tmp_path: object) -> None:
    from pathlib import Path

    from runner.container import container_argv

    data = Path(str(tmp_path)) / "data"
    argv = container_argv(["--set", "epochs=5"], mmar=Path("/opt/mmar"), out=Path("/out"), data=data)
    assert argv[:3] == ["train", "/opt/mmar", "--no-progress"] and argv[-2:] == ["--set", "epochs=5"]
    assert "MMAR_CKPT_DIR=/out" in argv and not any(w.startswith("DATA_ROOT=") for w in argv)
    data.mkdir()
    (data / "dataset.json").write_text("{}")
    argv = container_argv(["validate"], mmar=Path("/opt/mmar"), out=Path("/out"), data=data)
    assert argv[0] == "validate" and f"DATA_ROOT={data}" in argv and "--no-progress" not in argv
