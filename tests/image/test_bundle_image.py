"""MONAI bundles as images, on a real engine: `mmar build BUNDLE`, then `docker run IMAGE` trains the baked bundle.

Every fixture bundle (tests/fixtures/bundles) becomes an image on the session's runtime stage (CPU
flavour, Debian base, air-gapped: tests/image/conftest.py), one layer each. A container trains it
with the fixture's data mounted at /data and writes to /out; the weights are the host's, bit for bit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner.image.build import BuildRequest, BuildResult, build_image
from tests.conftest import run_cli
from tests.image.engine import RUNTIME_TAG, docker

pytestmark = [pytest.mark.slow, pytest.mark.docker]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
BUNDLES = ("seg3d_glob", "seg3d_datalist", "cls2d", "seg3d_scripts")


def tag_of(name: str) -> str:
    return f"mmar-test/bundle-{name.replace('_', '-')}:test"


@pytest.fixture(scope="module")
def bundle_images(runtime_image: str, base_image: str, wheelhouse: Path) -> dict[str, BuildResult]:
    """One image per fixture bundle, each on the shared runtime stage."""
    return {name: build_image(BuildRequest(FIXTURES / name, tag_of(name), base_image, wheelhouse, flavour="cpu"),
                              progress=lambda line: None)
            for name in BUNDLES}


def readable_copy(source: Path, target: Path) -> Path:
    """A copy the container's user (uid 10001) can read, and write where it must (pytest makes folders 0700)."""
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def out_dir(tmp_path: Path, name: str = "out") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    folder.chmod(0o777)
    return folder


def run(host: str, image: str, *words: str, out: Path, data: Path | None, check: bool = True) -> Any:
    mounts = ["-v", f"{out}:/out"] + (["-v", f"{data}:/data:ro"] if data else [])
    return docker(host, "run", "--rm", "--network", "none", "--read-only", *mounts, image, *words, check=check)


def test_each_bundle_is_one_layer_on_the_runtime_with_its_labels(docker_host: str, bundle_images: dict[str, BuildResult]) -> None:
    runtime = json.loads(docker(docker_host, "image", "inspect", RUNTIME_TAG).stdout)[0]["RootFS"]["Layers"]
    for name, result in bundle_images.items():
        assert result.source_format == "bundle" and dict(result.left_out)["data"] == "data"
        info = json.loads(docker(docker_host, "image", "inspect", result.tag).stdout)[0]
        labels = info["Config"]["Labels"]
        assert labels["io.mmar-runner.format"] == "bundle"
        assert labels["io.mmar-runner.bundle.name"] == name, "metadata.json has no name: the folder's"
        assert labels["io.mmar-runner.bundle.version"] == "0.1.0"
        assert labels["io.mmar-runner.bundle.digest"] == result.mmar_digest and result.mmar_digest.startswith("sha256:")
        assert "io.mmar-runner.mmar.name" not in labels and labels["io.mmar-runner.flavour"] == "cpu"
        assert info["Config"]["User"] == "mmar" and info["Config"]["Entrypoint"][-2:] == ["-m", "runner.container"]
        layers = info["RootFS"]["Layers"]
        assert layers[:len(runtime)] == runtime and len(layers) - len(runtime) == 1, f"{name}: one layer on the runtime"
        listing = docker(docker_host, "run", "--rm", "--network", "none", "--entrypoint", "ls", result.tag, "-A", "/opt/mmar").stdout.split()
        assert "configs" in listing and "data" not in listing, listing
        assert ("scripts" in listing) == (name == "seg3d_scripts")


@pytest.mark.parametrize("name", BUNDLES)
def test_training_in_the_container_is_bit_identical_to_the_host(docker_host: str, bundle_images: dict[str, BuildResult],
                                                                tmp_path: Path, name: str) -> None:
    root = readable_copy(FIXTURES / name, tmp_path / name)
    host = run_cli("train", str(root))
    assert host.returncode == 0, host.stderr[-3000:]
    on_host = json.loads((root / "models" / "run_manifest.json").read_text())

    out = out_dir(tmp_path)
    done = run(docker_host, tag_of(name), out=out, data=root / "data")
    in_container = json.loads((out / "run_manifest.json").read_text())
    assert in_container["status"] == "completed" and in_container["format"] == "monai-bundle"
    assert in_container["mmar_root"] == "/opt/mmar" and in_container["image"] == tag_of(name)
    assert (out / "final_model.pt").is_file(), "ckpt_dir is /out: the run's files are in the volume"
    assert in_container["data"]["files"] == on_host["data"]["files"] > 0, "dataset_dir (or the datalist) is /data"
    assert in_container["versions"]["torch"] == on_host["versions"]["torch"]
    assert in_container["weights_digest"] == on_host["weights_digest"], done.stderr[-2000:]


def test_a_second_container_run_repeats_the_weights_and_a_users_set_wins(docker_host: str, bundle_images: dict[str, BuildResult],
                                                                          tmp_path: Path) -> None:
    data = readable_copy(FIXTURES / "cls2d" / "data", tmp_path / "data")
    first, second = out_dir(tmp_path, "first"), out_dir(tmp_path, "second")
    run(docker_host, tag_of("cls2d"), out=first, data=data)
    run(docker_host, tag_of("cls2d"), "--set", "ckpt_dir=/out/mine", out=second, data=data)
    again = json.loads((second / "mine" / "run_manifest.json").read_text())
    assert again["weights_digest"] == json.loads((first / "run_manifest.json").read_text())["weights_digest"]
    assert not (second / "run_manifest.json").exists(), "the user's ckpt_dir came after the image's and won"


def test_check_in_the_container_needs_the_data_mounted(docker_host: str, bundle_images: dict[str, BuildResult],
                                                       tmp_path: Path) -> None:
    data = readable_copy(FIXTURES / "seg3d_glob" / "data", tmp_path / "data")
    ok = run(docker_host, tag_of("seg3d_glob"), "check", out=out_dir(tmp_path), data=data, check=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    missing = run(docker_host, tag_of("seg3d_glob"), "check", out=out_dir(tmp_path, "out2"), data=None, check=False)
    assert missing.returncode == 2 and "matches no files" in missing.stderr and "Traceback" not in missing.stderr


def test_a_yaml_bundle_is_read_in_the_container(docker_host: str, runtime_image: str, base_image: str, wheelhouse: Path,
                                                tmp_path: Path) -> None:
    """Zoo bundles may write their configs in YAML: the image reads them as the host does (PyYAML is in the lock)."""
    import yaml

    root = readable_copy(FIXTURES / "seg3d_glob", tmp_path / "seg3d_yaml")
    train = root / "configs" / "train.json"
    (root / "configs" / "train.yaml").write_text(yaml.safe_dump(json.loads(train.read_text())))
    train.unlink()
    tag = tag_of("seg3d_yaml")
    build_image(BuildRequest(root, tag, base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    data = readable_copy(FIXTURES / "seg3d_glob" / "data", tmp_path / "data")
    checked = run(docker_host, tag, "check", out=out_dir(tmp_path), data=data, check=False)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "configs/train.yaml" in checked.stdout
