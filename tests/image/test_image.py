"""The image, built and run on a real engine: `docker run IMAGE` trains the baked MMAR.

Every test here uses the session's engine, Debian base image and wheelhouse (tests/image/conftest.py):
the CPU flavour, air-gapped. The default CUDA flavour downloads several GB: bench/bench_image.py
--flavour cuda measures it, not the tests.
"""

from __future__ import annotations

import json
import mmap
import shutil
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from runner.errors import BAD_INPUT_EXIT, MmarRunnerError
from runner.image.build import CPU_LOCK, BuildRequest, build_image, lock_versions
from tests.conftest import DEMO_BUNDLE, REPO, TINY_SET, run_cli
from tests.image.engine import BASE_TAG, RUNTIME_TAG, docker

pytestmark = [pytest.mark.slow, pytest.mark.docker]

def out_dir(tmp_path: Path, name: str = "out") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    folder.chmod(0o777)  # the container's user (uid 10001) writes here
    return folder


def run(host: str, image: str, *words: str, out: Path, data: Path | None = None, check: bool = True) -> object:
    mounts = ["-v", f"{out}:/out"] + (["-v", f"{data}:/data:ro"] if data else [])
    return docker(host, "run", "--rm", "--network", "none", "--read-only", *mounts, image, *words, check=check)


def test_container_training_is_bit_identical_to_the_host(docker_host: str, spleen_image: str, data: Path,
                                                         tmp_path: Path, make_mmar: object) -> None:
    # The demo bundle's config and its environment.json's variables (the image has both), with the same synthetic data.
    baked = json.loads((DEMO_BUNDLE / "config" / "environment.json").read_text(encoding="utf-8"))
    root = make_mmar(environment={k: v for k, v in baked.items() if k not in ("DATA_ROOT", "DATASET_JSON") and not k.startswith("MMAR_")})
    host = run_cli("train", str(root), "--set", *TINY_SET)
    assert host.returncode == 0, host.stderr[-2000:]
    on_host = json.loads((root / "models" / "run_manifest.json").read_text())

    out = out_dir(tmp_path)
    done = run(docker_host, spleen_image, "--set", *TINY_SET, out=out, data=data)
    in_container = json.loads((out / "run_manifest.json").read_text())
    assert (out / "model.pt").is_file() and (out / "final_model.pt").is_file()
    assert in_container["status"] == "completed" and in_container["mmar_root"] == "/opt/mmar"
    assert in_container["image"] == spleen_image and on_host["image"] is None
    assert in_container["versions"]["torch"] == on_host["versions"]["torch"]
    assert in_container["weights_digest"] == on_host["weights_digest"], done.stdout[-1000:]  # type: ignore[attr-defined]


def test_runs_as_non_root_with_its_labels(docker_host: str, spleen_image: str) -> None:
    info = json.loads(docker(docker_host, "image", "inspect", spleen_image).stdout)[0]
    labels = info["Config"]["Labels"]
    versions = lock_versions(CPU_LOCK)
    assert info["Config"]["User"] == "mmar"
    assert info["Config"]["Env"] and "PYTHONHASHSEED=0" in info["Config"]["Env"] and "CUBLAS_WORKSPACE_CONFIG=:4096:8" in info["Config"]["Env"]
    assert labels["io.mmar-runner.torch.version"] == versions["torch"] and labels["io.mmar-runner.torch.cuda"] == "none"
    assert labels["io.mmar-runner.flavour"] == "cpu"
    assert labels["io.mmar-runner.monai.version"] == versions["monai"]
    assert labels["io.mmar-runner.mmar.digest"].startswith("sha256:") and labels["io.mmar-runner.mmar.name"] == "spleen_ct_seg"
    assert labels["org.opencontainers.image.base.name"] == BASE_TAG
    assert labels["org.opencontainers.image.base.digest"].startswith("sha256:")
    uid = docker(docker_host, "run", "--rm", "--network", "none", "--entrypoint", "id", spleen_image, "-u").stdout.strip()
    assert uid == "10001"
    listing = docker(docker_host, "run", "--rm", "--network", "none", "--entrypoint", "ls", spleen_image, "-A", "/opt/mmar").stdout.split()
    assert "config" in listing and "data" not in listing, "data never goes into the image"


def test_bad_config_baked_in_fails_at_docker_run_with_exit_2(docker_host: str, runtime_image: str, base_image: str,
                                                            wheelhouse: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "broken"
    shutil.copytree(DEMO_BUNDLE, bundle, ignore=shutil.ignore_patterns("data", "models", "eval"))
    config_file = bundle / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["train"]["model"]["name"] = "UNett"
    config_file.write_text(json.dumps(config))
    tag = "mmar-test/broken:test"
    build_image(BuildRequest(bundle, tag, base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    started = time.perf_counter()
    done = run(docker_host, tag, out=out_dir(tmp_path), check=False)
    assert done.returncode == 2, done.stderr[-2000:]  # type: ignore[attr-defined]
    assert "config/config_train.json: train.model.name: unknown component name 'UNett'" in done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in done.stderr  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 60


def test_editing_custom_code_rebuilds_only_the_bundle_layer(docker_host: str, runtime_image: str, base_image: str,
                                                            wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "byoc_shutdown"
    shutil.copytree(REPO / "bundles" / "byoc_shutdown", bundle, ignore=shutil.ignore_patterns("data", "models", "eval"))
    first = build_image(BuildRequest(bundle, "mmar-test/shutdown:a", base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    with (bundle / "custom" / "shutdown.py").open("a") as source:
        source.write(f"\n# edited {uuid.uuid4().hex}\n")
    second = build_image(BuildRequest(bundle, "mmar-test/shutdown:b", base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    layers = {tag: json.loads(docker(docker_host, "image", "inspect", tag).stdout)[0]["RootFS"]["Layers"]
              for tag in (RUNTIME_TAG, "mmar-test/shutdown:a", "mmar-test/shutdown:b")}
    runtime = layers[RUNTIME_TAG]
    assert layers["mmar-test/shutdown:a"][:len(runtime)] == runtime == layers["mmar-test/shutdown:b"][:len(runtime)]
    assert layers["mmar-test/shutdown:a"][len(runtime):] != layers["mmar-test/shutdown:b"][len(runtime):]
    assert len(layers["mmar-test/shutdown:b"]) - len(runtime) == 1, "the MMAR is one layer"
    assert first.mmar_digest != second.mmar_digest
    with capsys.disabled():
        print(f"\n[image] bundle-stage builds: first {first.seconds:.1f}s, after a custom/ edit {second.seconds:.1f}s")


def test_two_processes_in_the_container(docker_host: str, spleen_image: str, data: Path, tmp_path: Path) -> None:
    out = out_dir(tmp_path)
    run(docker_host, spleen_image, "--nproc", "2", "--set", *TINY_SET, out=out, data=data)
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["status"] == "completed"


def test_sigterm_stops_a_training_container_promptly(docker_host: str, spleen_image: str, data: Path, tmp_path: Path) -> None:
    name = f"mmar-sigterm-{uuid.uuid4().hex[:8]}"
    out = out_dir(tmp_path)
    docker(docker_host, "run", "-d", "--name", name, "--network", "none", "--read-only", "-v", f"{out}:/out",
           "-v", f"{data}:/data:ro", spleen_image, "--set", *TINY_SET, "epochs=10000")
    try:
        deadline = time.time() + 120
        while "epoch 1/" not in docker(docker_host, "logs", name).stderr and time.time() < deadline:
            time.sleep(0.5)
        started = time.perf_counter()
        docker(docker_host, "stop", "-t", "30", name)
        stopped_in = time.perf_counter() - started
        state = json.loads(docker(docker_host, "inspect", name).stdout)[0]["State"]
        assert stopped_in < 10, f"SIGTERM was not handled: docker stop took {stopped_in:.1f}s"
        assert state["ExitCode"] == 75, state  # checkpoint written, then "try again"
        assert json.loads((out / "run_manifest.json").read_text())["status"] == "preempted"
        assert list((out / "resume").glob("ckpt-*.pt")), "no resume checkpoint in the output volume"
    finally:
        docker(docker_host, "rm", "-f", name, check=False)


def test_proxy_build_keeps_the_ca_certificate_out_of_the_image(docker_host: str, base_image: str, wheelhouse: Path,
                                                               tmp_path: Path) -> None:
    """Behind this machine's TLS-intercepting proxy: torch from a local wheel, the rest from the index."""
    proxy_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if not proxy_cas:
        pytest.skip("this machine has no extra CA certificate: no TLS-intercepting proxy to build through")
    marker = f"mmar-test-marker-{uuid.uuid4().hex}"
    ca = tmp_path / "proxy-ca.crt"
    ca.write_text("".join(p.read_text() for p in proxy_cas) + f"\n# {marker}\n")
    partial = tmp_path / "wheels"
    partial.mkdir()
    for torch_wheel in wheelhouse.glob("torch-*.whl"):
        shutil.copy(torch_wheel, partial / torch_wheel.name)
    tag = "mmar-test/runtime:proxy"
    # PyTorch's CPU index is not reachable from here: torch comes from the wheelhouse, so no extra index
    result = build_image(BuildRequest(None, tag, base_image, partial, (ca,), flavour="cpu", torch_index_url="none"), progress=lambda line: None)
    assert not result.air_gapped
    container = docker(docker_host, "create", "--entrypoint", "/bin/true", tag).stdout.strip()
    try:
        exported = docker(docker_host, "export", container, text=False).stdout  # type: ignore[arg-type]
    finally:
        docker(docker_host, "rm", container, check=False)
    assert marker.encode() not in exported
    body = [line for line in proxy_cas[0].read_text().splitlines() if line and "-----" not in line][3]
    assert body.encode() not in exported, "the proxy's CA certificate is in the image"


# Planted in an MMAR before `mmar build` (issue 14): each holds a marker that must not be anywhere in the image.
PLANTED_SECRETS = (".ssh/id_rsa", "custom/deep/.env", "config/Credentials-prod.json", "custom/tls/server.PEM",
                   ".docker/config.json", ".kube/config", ".aws/credentials", "custom/.git-credentials")


def test_the_image_holds_the_mmar_and_nothing_else(docker_host: str, runtime_image: str, base_image: str,
                                                   wheelhouse: Path, data: Path, tmp_path: Path) -> None:
    """Secrets at any depth stay out (exported file system searched), a package under custom/ goes in and imports."""
    bundle = tmp_path / "attacked"
    shutil.copytree(DEMO_BUNDLE, bundle, ignore=shutil.ignore_patterns("data", "models", "eval"))
    marker = f"mmar-test-secret-{uuid.uuid4().hex}"
    for path in PLANTED_SECRETS:
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_text(f"{marker} {path}\n")
    (bundle / "custom" / "models").mkdir(parents=True, exist_ok=True)
    (bundle / "custom" / "models" / "__init__.py").write_text("")
    (bundle / "custom" / "models" / "net.py").write_text(
        "from monai.networks.nets import UNet\n\n\nclass Net(UNet):\n    \"\"\"The demo's UNet, from a package under custom/.\"\"\"\n")
    config_file = bundle / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["train"]["model"] = {"path": "models.net.Net", "args": config["train"]["model"]["args"]}
    config_file.write_text(json.dumps(config))
    tag = "mmar-test/attacked:test"
    result = build_image(BuildRequest(bundle, tag, base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    left_out = dict(result.left_out)
    assert all(any(path == gone or path.startswith(gone + "/") for gone in left_out) for path in PLANTED_SECRETS), left_out
    assert set(left_out.values()) == {"looks like a secret"}

    exported = tmp_path / "image-fs.tar"
    container = docker(docker_host, "create", "--entrypoint", "/bin/true", tag).stdout.strip()
    try:
        docker(docker_host, "export", "-o", str(exported), container)
    finally:
        docker(docker_host, "rm", container, check=False)
    with exported.open("rb") as raw, mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as whole:
        assert whole.find(marker.encode()) == -1, "a secret planted in the MMAR is in the image"
    with tarfile.open(exported) as image_fs:
        names = {member.name for member in image_fs.getmembers() if member.isfile()}
        sbom = json.loads(image_fs.extractfile("opt/sbom/sbom.cdx.json").read())  # type: ignore[union-attr]
    assert {"opt/mmar/custom/models/__init__.py", "opt/mmar/custom/models/net.py"} <= names
    assert not [name for name in names if name.startswith(("opt/mmar/.ssh/", "opt/mmar/.kube/", "opt/mmar/.aws/", "opt/mmar/.docker/"))]

    checked = run(docker_host, tag, "check", out=out_dir(tmp_path), data=data, check=False)
    assert checked.returncode == 0, checked.stderr[-2000:]  # type: ignore[attr-defined]  # custom/models imports in the image

    info = json.loads(docker(docker_host, "image", "inspect", tag).stdout)[0]
    assert info["Config"]["Labels"]["io.mmar-runner.sbom"] == "/opt/sbom/sbom.cdx.json"
    listed = {(component["name"].lower(), component.get("version")) for component in sbom["components"]}
    assert {(name.lower(), version) for name, version in lock_versions(CPU_LOCK).items()} <= listed, "the SBOM misses locked wheels"
    assert sbom["bomFormat"] == "CycloneDX"


def test_a_base_whose_python_the_lock_does_not_cover_is_refused_before_pip(docker_host: str, base_image: str, tmp_path: Path) -> None:
    """The build stage compares the base's Python (bookworm: 3.11) with the lock's list, and mmar build says exit 2."""
    lock = tmp_path / "requirements-cpu.lock"
    lock.write_text(CPU_LOCK.read_text().replace("# pythons: 3.11\n", "# pythons: 3.12 3.13\n"))
    assert "# pythons: 3.12 3.13" in lock.read_text()
    seen: list[str] = []
    with pytest.raises(MmarRunnerError) as refused:
        build_image(BuildRequest(None, "mmar-test/refused:test", base_image, None, lock=lock, flavour="cpu"), progress=seen.append)
    assert refused.value.exit_code == BAD_INPUT_EXIT
    assert f"the base image {BASE_TAG} has Python 3.11; the cpu lock requirements-cpu.lock has wheels for Python 3.12 3.13 only" \
        in refused.value.message
    assert any("python-not-covered 3.11" in line for line in seen)
    assert not any("python3 -m venv" in line for line in seen), "refused before the step that runs pip"
