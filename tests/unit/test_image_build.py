"""`mmar build`'s flavours: which lock, which index, which Pythons, what the image says (no engine, no network)."""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.errors import BAD_INPUT_EXIT, HOST_UNSUITABLE_EXIT, RUNTIME_FAILURE_EXIT, HostError, MmarRunnerError
from runner.image.build import (
    CPU_LOCK,
    IMAGE_DIR,
    LOCK,
    BuildRequest,
    _build_args,
    _run_build,
    checked_flavour,
    lock_versions,
    torch_cuda,
    wheelhouse_covers_lock,
)
from runner.image.lock import TORCH_CPU_INDEX
from runner.image.preflight import HostFacts, check_host, gather


class FakeApi:
    """The SDK's low-level build: replays a stream of chunks as the engine would send them."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks

    def build(self, **_kwargs: Any) -> list[dict[str, Any]]:
        return self.chunks


class FakeClient:
    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.api = FakeApi(chunks)


def test_the_default_image_is_the_cuda_flavour_and_cpu_is_a_choice() -> None:
    assert BuildRequest(None, "t:1").flavour == "cuda" and BuildRequest(None, "t:1").lock_file == LOCK == IMAGE_DIR / "requirements-cuda.lock"
    assert BuildRequest(None, "t:1", flavour="cpu").lock_file == CPU_LOCK == IMAGE_DIR / "requirements-cpu.lock"
    own = IMAGE_DIR / "requirements-cpu.lock"
    assert BuildRequest(None, "t:1", None, None, (), False, own, flavour="cpu").lock_file == own, "--lock wins (the CLI passes it 7th)"
    assert "+cpu" not in lock_versions(LOCK)["torch"] and lock_versions(CPU_LOCK)["torch"].endswith("+cpu")


def test_build_args_name_the_flavour_and_only_the_cpu_flavour_gets_an_extra_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMAR_TORCH_INDEX_URL", raising=False)
    cuda = _build_args(BuildRequest(None, "t:1"), None, None)
    assert cuda["FLAVOUR"] == "cuda" and cuda["TORCH_CUDA"] == "13.0" and "TORCH_INDEX_URL" not in cuda
    cpu = _build_args(BuildRequest(None, "t:1", flavour="cpu"), None, None)
    assert cpu["FLAVOUR"] == "cpu" and cpu["TORCH_CUDA"] == "none" and cpu["TORCH_INDEX_URL"] == TORCH_CPU_INDEX
    explicit = BuildRequest(None, "t:1", flavour="cpu", torch_index_url="https://other.example/cpu")
    assert _build_args(explicit, None, None)["TORCH_INDEX_URL"] == "https://other.example/cpu"
    assert _build_args(BuildRequest(None, "t:1", flavour="cpu", torch_index_url="none"), None, None)["TORCH_INDEX_URL"] == "", \
        "none: torch's +cpu wheels are in the wheelhouse or the main index"


def test_torch_cuda_reads_the_cuda_wheels_of_the_lock() -> None:
    assert torch_cuda({"torch": "2.13.0", "cuda-toolkit": "13.0.3.0"}) == "13.0"
    assert torch_cuda({"torch": "2.13.0+cu128"}) == "12.8" and torch_cuda({"torch": "2.13.0+cpu"}) == "none"


@pytest.mark.parametrize(("request_", "words"), [
    (BuildRequest(None, "t:1", flavour="rocm"), ["--flavour rocm: not a flavour", "cuda, cpu"]),
    (BuildRequest(None, "t:1", lock=CPU_LOCK), ["holds torch 2.13.0+cpu, the cpu build", "--flavour cpu"]),
    (BuildRequest(None, "t:1", lock=LOCK, flavour="cpu"), ["holds torch 2.13.0, the cuda build", "--flavour cuda"]),
    (BuildRequest(None, "t:1", lock=Path("/nonexistent.lock")), ["/nonexistent.lock: file not found"]),
])
def test_a_flavour_and_lock_that_do_not_match_are_bad_input(request_: BuildRequest, words: list[str]) -> None:
    with pytest.raises(MmarRunnerError) as caught:
        checked_flavour(request_)
    assert caught.value.exit_code == BAD_INPUT_EXIT
    assert all(word in caught.value.render() for word in words), caught.value.render()


def test_a_base_whose_python_the_lock_does_not_cover_is_refused_with_exit_2() -> None:
    request = BuildRequest(None, "t:1", flavour="cpu")
    refused = [{"stream": "Step 6/20 : RUN v=$(python3 ...)"}, {"stream": " ---> Running in 0123"},
               {"stream": "mmar-build: python-not-covered 3.13 (the lock covers: 3.11)\n"},
               {"error": "The command '/bin/sh -c ...' returned a non-zero code: 3", "errorDetail": {"message": "returned 3"}}]
    seen: list[str] = []
    with pytest.raises(MmarRunnerError) as caught:
        _run_build(FakeClient(refused), Path("."), request, "runtime", {"BASE_IMAGE": "debian:trixie"}, "host", seen.append, ("3.11",))
    message = caught.value.render()
    assert caught.value.exit_code == BAD_INPUT_EXIT
    assert "the base image debian:trixie has Python 3.13; the cpu lock requirements-cpu.lock has wheels for Python 3.11 only" in message
    assert "make a lock that covers 3.13: python -m runner.image.lock --flavour cpu" in message and "torch CPU index" in message
    assert any("python-not-covered" in line for line in seen), "the build's own output is still shown"
    other = [{"stream": "Step 7/20 : RUN pip install ..."}, {"error": "pip failed", "errorDetail": {"message": "hash mismatch"}}]
    with pytest.raises(MmarRunnerError) as failed:
        _run_build(FakeClient(other), Path("."), request, "runtime", {"BASE_IMAGE": "b"}, "host", seen.append, ("3.11",))
    assert failed.value.exit_code == RUNTIME_FAILURE_EXIT and "hash mismatch" in failed.value.render()


def dockerfile_python_check() -> str:
    """The Dockerfile's RUN that compares the base's Python with the lock's ``# pythons:`` line, as a shell command."""
    text = (IMAGE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    [command] = [line[len("RUN "):] for line in text.splitlines() if line.startswith("RUN ") and "python-not-covered" in line]
    return command


@pytest.mark.parametrize(("header", "refused"), [("", False), ("# pythons: {here}\n", False), ("# pythons: 3.9 {here}0 4.1\n", True)])
def test_the_dockerfile_refuses_a_python_the_lock_does_not_list(tmp_path: Path, header: str, refused: bool) -> None:
    """The same shell the build stage runs, on this machine's python3, against a lock of ours."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lock = tmp_path / "requirements.lock"
    lock.write_text(header.format(here=here) + "demo==1.0 --hash=sha256:" + "0" * 64 + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    command = dockerfile_python_check().replace("/build/requirements.lock", str(lock))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert (done.returncode == 3) is refused, done.stdout + done.stderr
    if refused:
        assert re.search(rf"mmar-build: python-not-covered {re.escape(here)} \(the lock covers: 3\.9 {re.escape(here)}0 4\.1\)", done.stdout)


def test_a_wheelhouse_covers_a_lock_when_each_package_has_one_of_its_wheels(tmp_path: Path) -> None:
    a, b = tmp_path / "a-1.0-py3-none-any.whl", tmp_path / "b-1.0-py3-none-any.whl"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    digest = {p.name[0]: hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)}
    lock = tmp_path / "x.lock"
    lock.write_text(f"# pythons: 3.11 3.12\na==1.0 --hash=sha256:{'1' * 64} --hash=sha256:{digest['a']}\nb==1.0 --hash=sha256:{'2' * 64}\n")
    assert not wheelhouse_covers_lock(tmp_path, lock), "b has none of its wheels here"
    lock.write_text(lock.read_text().replace("2" * 64, digest["b"]))
    assert wheelhouse_covers_lock(tmp_path, lock)


CUDA_NO_GPU = HostFacts("13.0", 0, None, None, [], None)


def test_the_cuda_image_on_a_host_without_a_gpu_trains_on_cpu_when_the_config_allows_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="runner.image.preflight"):
        assert check_host(CUDA_NO_GPU, use_gpu=False) == "cpu"
    assert "CUDA 13.0 build and no GPU is visible: training on CPU" in caplog.text
    with pytest.raises(HostError) as caught:
        check_host(CUDA_NO_GPU, use_gpu=True)
    assert caught.value.exit_code == HOST_UNSUITABLE_EXIT
    assert "none is visible" in caught.value.message and "--set use_gpu=False" in (caught.value.hint or "")


class NoDriverTorch:
    """torch's CUDA build where no NVIDIA driver is installed: no device, driver version 0."""

    class version:  # noqa: N801 - the attribute torch has
        cuda = "13.0"

    class cuda:  # noqa: N801
        @staticmethod
        def device_count() -> int:
            return 0

        @staticmethod
        def get_arch_list() -> list[str]:
            return ["sm_80", "sm_90"]

    class _C:  # noqa: N801
        @staticmethod
        def _cuda_getDriverVersion() -> int:  # noqa: N802
            return 0


def test_no_driver_is_not_reported_as_an_old_driver() -> None:
    facts = gather(NoDriverTorch)
    assert facts.driver_cuda is None and facts.gpu_count == 0
    with pytest.raises(HostError) as caught:
        check_host(facts, use_gpu=True)
    assert "none is visible" in caught.value.message and "driver" not in caught.value.message


def test_mmar_build_takes_flavour_and_cpu_index_from_options_or_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The environment is read once, by the CLI (MMAR_IMAGE_FLAVOUR, MMAR_TORCH_INDEX_URL); build.py gets plain values."""
    import runner.image.build as build
    from tests.cli_helpers import invoke

    seen: list[BuildRequest] = []

    def capture(request: BuildRequest, progress: object) -> object:
        seen.append(request)
        raise build.MmarRunnerError("captured")

    monkeypatch.setattr(build, "build_image", capture)
    monkeypatch.delenv("MMAR_IMAGE_FLAVOUR", raising=False)
    monkeypatch.delenv("MMAR_TORCH_INDEX_URL", raising=False)
    invoke("build", "--runtime-only")
    assert seen[-1].flavour == "cuda" and seen[-1].torch_index_url is None
    monkeypatch.setenv("MMAR_IMAGE_FLAVOUR", "cpu")
    monkeypatch.setenv("MMAR_TORCH_INDEX_URL", "https://mirror.example/torch/cpu")
    invoke("build", "--runtime-only")
    assert seen[-1].flavour == "cpu" and seen[-1].torch_index_url == "https://mirror.example/torch/cpu"
    assert _build_args(seen[-1], None, None)["TORCH_INDEX_URL"] == "https://mirror.example/torch/cpu"
    invoke("build", "--runtime-only", "--flavour", "cuda", "--torch-index-url", "none")
    assert seen[-1].flavour == "cuda" and seen[-1].torch_index_url == "none"
