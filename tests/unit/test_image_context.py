"""The build context `mmar build` sends to the engine: only what the Dockerfile copies, no data or secrets."""

from __future__ import annotations

from pathlib import Path

from runner.image.build import BuildRequest, _stage_context, lock_versions, wheelhouse_covers_lock
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
    digest = _stage_context(BuildRequest(mmar, "t:1", ca_certs=(ca,)), context)
    staged = sorted(str(p.relative_to(context / "mmar")) for p in (context / "mmar").rglob("*") if p.is_file())
    assert staged == ["commands/train.sh", "config/config_train.json", "custom/net.py"]
    assert (context / "mmar" / "models").is_dir() and not any((context / "mmar" / "models").iterdir())
    assert sorted(p.name for p in context.iterdir()) == [".dockerignore", "Dockerfile", "build-ca", "dist", "mmar",
                                                         "requirements.lock", "wheelhouse"]
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
