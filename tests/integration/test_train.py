"""Real training of the demo bundle's pipeline on real NIfTI files, in separate processes."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from runner.manifest import weights_digest
from tests.conftest import TINY_SET, run_cli

pytestmark = pytest.mark.slow


def train(root: Path, *extra: str, cwd_args: tuple[str, ...] = ()) -> dict[str, Any]:
    done = run_cli("train", str(root), "--set", *TINY_SET, *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((root / "models" / "run_manifest.json").read_text())
    assert manifest["weights_digest"] in done.stdout
    return manifest


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path) -> tuple[Path, dict[str, Any]]:
    from tests.conftest import DEMO_BUNDLE, write_json

    root = tmp_path_factory.mktemp("run") / "mmar"
    (root / "config").mkdir(parents=True)
    (root / "config" / "config_train.json").write_text((DEMO_BUNDLE / "config" / "config_train.json").read_text())
    write_json(root / "config" / "environment.json", {"DATA_ROOT": str(synthetic_data),
               "DATASET_JSON": str(synthetic_data / "dataset.json"), "MMAR_CKPT_DIR": "models"})
    return root, train(root)


def test_outputs_land_at_the_mmar_places(first_run: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = first_run
    models = root / "models"
    assert (models / "model.pt").is_file() and (models / "final_model.pt").is_file()
    assert list(models.glob("events.out.tfevents.*")), "TensorBoard logs missing"
    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["epochs_completed"] == 2 and len(stats["train_loss_per_epoch"]) == 2
    assert stats["key_metric_name"] == "val_mean_dice" and stats["best_validation_metric"] is not None
    assert not list(models.glob("*.tmp")) and not list(models.glob(".*.tmp"))


def test_manifest_records_what_reproduces_the_run(first_run: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = first_run
    assert manifest["seed"] == 0 and manifest["dialect"] == "4.1"
    assert manifest["config_digest"].startswith("sha256:") and manifest["weights_digest"].startswith("sha256:")
    flags = manifest["determinism"]
    assert flags["deterministic_algorithms"] is True and flags["deterministic_algorithms_warn_only"] is False
    assert flags["cudnn_deterministic"] is True and flags["cudnn_benchmark"] is False
    assert flags["PYTHONHASHSEED"] == "0" and flags["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert flags["in_force_after_training"]["deterministic_algorithms"] is True
    assert manifest["versions"]["torch"] == torch.__version__ and manifest["versions"]["monai"]
    assert manifest["device"]["device"] in ("cpu", "cuda:0")
    assert manifest["amp"]["requested"] is True
    assert manifest["epochs_completed"] == 2 and manifest["iterations"] > 0 and manifest["ended_early"] is False
    assert "determinism.random_seed=0" in manifest["reproduce"]


def test_weights_digest_is_over_the_saved_tensors(first_run: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = first_run
    checkpoint = torch.load(root / "models" / "final_model.pt", map_location="cpu", weights_only=False)
    assert weights_digest(checkpoint["model"]) == manifest["weights_digest"]
    assert checkpoint["train_conf"]["epochs"] == 2


def test_two_runs_give_identical_weights_and_another_seed_does_not(first_run: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = first_run
    again = train(root)
    assert again["weights_digest"] == manifest["weights_digest"]
    assert again["config_digest"] == manifest["config_digest"]
    other = train(root, "determinism.random_seed=1")
    assert other["weights_digest"] != manifest["weights_digest"]
    assert other["config_digest"] != manifest["config_digest"]


def test_clara_style_flags_from_another_directory(first_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, manifest = first_run
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "runner", "train", "-m", str(root), "-c", "config/config_train.json",
         "-e", "config/environment.json", "--write_train_stats", "--set", *TINY_SET, "--local_rank=0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((root / "models" / "run_manifest.json").read_text())["weights_digest"] == manifest["weights_digest"]
    assert not (tmp_path / "models").exists()


def test_the_reproduce_command_reproduces(first_run: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = first_run
    words = shlex.split(manifest["reproduce"])
    assert words[0] == "mmar"
    done = run_cli(*words[1:])
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((root / "models" / "run_manifest.json").read_text())["weights_digest"] == manifest["weights_digest"]
