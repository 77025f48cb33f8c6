"""The build context `mmar build` sends to the engine: only what the Dockerfile copies, no data or secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.image.build import BuildRequest, _stage_build_files, _stage_mmar, lock_versions, locked_wheels, wheelhouse_covers_lock
from tests.conftest import DEMO_BUNDLE


def test_context_keeps_data_outputs_vcs_and_secrets_out(tmp_path: Path) -> None:
    mmar = tmp_path / "mmar"
    (mmar / "config").mkdir(parents=True)
    (mmar / "config" / "config_train.json").write_text((DEMO_BUNDLE / "config" / "config_train.json").read_text())
    for path in ("data/imagesTr/a.nii.gz", "models/model.pt", "eval/x.csv", ".git/HEAD", ".env", "custom/net.py",
                 "custom/__pycache__/net.cpython-311.pyc", "custom/server.key", "commands/train.sh", ".ssh/id_rsa"):
        (mmar / path).parent.mkdir(parents=True, exist_ok=True)
        (mmar / path).write_text("x")
    ca = tmp_path / "proxy.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    context = tmp_path / "context"
    context.mkdir()
    digest, left = _stage_mmar(mmar, context / "mmar", allow_outside_links=False)
    _stage_build_files(BuildRequest(mmar, "t:1", ca_certs=(ca,)), context)
    assert sorted(path for path, _ in left.left_out) == [".env", ".git", ".ssh", "custom/__pycache__", "custom/server.key", "data",
                                                        "eval", "models"]
    staged = sorted(str(p.relative_to(context / "mmar")) for p in (context / "mmar").rglob("*") if p.is_file())
    assert staged == ["commands/train.sh", "config/config_train.json", "custom/net.py"]
    assert (context / "mmar" / "models").is_dir() and not any((context / "mmar" / "models").iterdir())
    assert sorted(p.name for p in context.iterdir()) == [".dockerignore", "Dockerfile", "build-ca", "dist", "mmar",
                                                         "requirements.lock", "sbom", "wheelhouse"]
    sbom = json.loads((context / "sbom" / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["metadata"]["component"]["name"] == "mmar-runner"
    described = {(c["name"].lower(), c["version"]) for c in sbom["components"]}
    assert described == {tuple(r.split("==")) for r in locked_wheels().values()}, "every locked wheel, nothing else"
    assert [p.name for p in (context / "build-ca").iterdir()] == ["extra-0.crt"]
    assert len(list((context / "dist").glob("mmar_runner-*.whl"))) == 1
    assert digest and digest.startswith("sha256:")


def test_runner_wheel_is_byte_identical_between_builds(tmp_path: Path) -> None:
    from runner.image.build import _runner_wheel

    first, second = tmp_path / "a", tmp_path / "b"
    _runner_wheel(first)
    _runner_wheel(second)
    [a], [b] = list(first.iterdir()), list(second.iterdir())
    assert a.read_bytes() == b.read_bytes(), "an unchanged runner must not invalidate the image's build cache"


def test_lock_pins_what_the_runtime_needs(tmp_path: Path) -> None:
    versions = lock_versions()
    assert versions["torch"].startswith("2.13.0") and versions["monai"] == "1.6.1" and "dumb-init" in versions
    assert not wheelhouse_covers_lock(tmp_path)


def staged_files(root: Path, tmp_path: Path, allow: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    from runner.image.context import stage_mmar

    target = tmp_path / "context-mmar"
    result = stage_mmar(root, target, allow_outside_links=allow)
    return sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()), result.left_out


def an_mmar(tmp_path: Path) -> Path:
    root = tmp_path / "mmar"
    (root / "config").mkdir(parents=True)
    (root / "config" / "config_train.json").write_text("{}")
    return root


def test_a_link_out_of_the_mmar_is_refused_naming_it(tmp_path: Path) -> None:
    """The attack: custom/notes.txt -> /etc/shadow (here a stand-in host file) would copy the host's file into the image."""
    from runner.errors import ConfigError

    host_secret = tmp_path / "host" / "shadow"
    host_secret.parent.mkdir()
    host_secret.write_text("root:$6$hash")
    root = an_mmar(tmp_path)
    (root / "custom").mkdir()
    (root / "custom" / "notes.txt").symlink_to(host_secret)
    (root / "docs").symlink_to(host_secret.parent, target_is_directory=True)
    with pytest.raises(ConfigError) as refused:
        staged_files(root, tmp_path)
    message = refused.value.render()
    assert f"custom/notes.txt: a symbolic link to {host_secret}, outside the MMAR" in message
    assert f"docs: a symbolic link to {host_secret.parent}, outside the MMAR" in message
    assert not list((tmp_path / "context-mmar").rglob("shadow")), "nothing of the host reached the context"
    files, _ = staged_files(root, tmp_path / "allowed", allow=True)
    assert "custom/notes.txt" in files, "--allow-outside-links copies the target's content, on request"


def test_mmar_build_refuses_a_link_out_before_asking_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_helpers import invoke
    from tests.integration.test_bad_input import assert_bad_input

    root = an_mmar(tmp_path)
    (root / "custom").mkdir()
    (root / "custom" / "notes.txt").symlink_to("/etc/passwd")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # exit 3 if it got that far
    assert_bad_input(invoke("build", str(root), "-t", "linked:1"), "custom/notes.txt: a symbolic link to /etc/passwd, outside the MMAR")


def test_a_link_inside_the_mmar_is_copied_as_what_it_points_to(tmp_path: Path) -> None:
    root = an_mmar(tmp_path)
    (root / "custom").mkdir()
    (root / "custom" / "net.py").write_text("NET = 1\n")
    (root / "custom" / "alias.py").symlink_to(root / "custom" / "net.py")
    (root / "custom" / "loop").symlink_to(root / "custom", target_is_directory=True)
    files, left = staged_files(root, tmp_path)
    assert "custom/alias.py" in files and (tmp_path / "context-mmar" / "custom" / "alias.py").read_text() == "NET = 1\n"
    assert not (tmp_path / "context-mmar" / "custom" / "alias.py").is_symlink()
    assert ("custom/loop", "a symbolic link loop") in left


def test_only_root_data_and_outputs_are_left_out_and_custom_packages_are_kept(tmp_path: Path) -> None:
    root = an_mmar(tmp_path)
    for path in ("custom/models/__init__.py", "custom/models/unet.py", "custom/data/loader.py", "custom/eval/metric.py",
                 "models/model.pt", "data/x.nii.gz", "eval/m.csv"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    files, left = staged_files(root, tmp_path)
    assert {"custom/models/__init__.py", "custom/models/unet.py", "custom/data/loader.py", "custom/eval/metric.py"} <= set(files)
    assert sorted(left) == [("data", "data"), ("eval", "outputs"), ("models", "outputs")]


def test_secrets_are_left_out_at_any_depth_whatever_their_case(tmp_path: Path) -> None:
    root = an_mmar(tmp_path)
    secrets = ["custom/ID_RSA", "custom/keys/id_ed25519.pub", "docs/Server.PEM", "a/b/tls.key", "c/store.p12", "c/store.PFX", "c/k.jks",
               ".netrc", "custom/.git-credentials", "x/.pypirc", "x/.npmrc", "custom/.env", "custom/.env.local", ".envrc",
               "config/credentials-prod.json", "deep/er/.docker/config.json", "y/.kube/config", "z/.ssh/known_hosts",
               "z/.gnupg/pubring.kbx", "z/.aws/credentials", "h/.config/gcloud/adc.json"]
    for path in [*secrets, "custom/net.py", "docs/README.md", "y/.kube/notes.txt", "deep/er/.docker/daemon.json"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("secret" if path in secrets else "ok")
    files, left = staged_files(root, tmp_path)
    assert not any((tmp_path / "context-mmar" / f).read_text() == "secret" for f in files), files
    assert {"custom/net.py", "docs/README.md", "y/.kube/notes.txt", "deep/er/.docker/daemon.json"} <= set(files)
    assert all(reason == "looks like a secret" for path, reason in left)
