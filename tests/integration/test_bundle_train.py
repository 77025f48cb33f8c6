"""``mmar train/verify/validate/infer BUNDLE``: MONAI runs the bundle; the runner pins, records and resumes it.

Every fixture bundle trains one epoch and its manifest holds the weights of the model it saved;
a run repeats bit for bit in fresh processes (verify), continues bit for bit after SIGTERM, and
says when the bundle's own initialize asks for non-deterministic settings. Hostile ``--set``
values are refused before anything runs, and leave nothing behind.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from runner.manifest import weights_digest
from tests.cli_helpers import invoke
from tests.integration.test_verify import UNSEEDED  # the same unseeded transform, in a bundle's scripts/

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bundles"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def bundle(tmp_path: Path) -> Callable[..., Path]:
    """``bundle(name, edit=None)``: a copy of a fixture bundle, its configs/train.json changed by ``edit``."""

    def copy(name: str, edit: Edit | None = None, label: str = "copy") -> Path:
        root = tmp_path / f"{name}-{label}"
        shutil.copytree(FIXTURES / name, root)
        if edit is not None:
            train = root / "configs" / "train.json"
            config = json.loads(train.read_text())
            edit(config)
            train.write_text(json.dumps(config, indent=2))
        return root

    return copy


def manifest_of(root: Path, name: str = "models/run_manifest.json") -> dict[str, Any]:
    return json.loads((root / name).read_text())


@pytest.mark.parametrize("name", ["seg3d_glob", "seg3d_datalist", "cls2d", "seg3d_scripts"])
def test_every_fixture_bundle_trains_one_epoch(bundle: Callable[..., Path], name: str) -> None:
    root = bundle(name)
    result = invoke("train", str(root))
    assert result.exit_code == 0, result.stderr[-3000:]
    manifest = manifest_of(root)
    assert manifest["status"] == "completed" and manifest["format"] == "monai-bundle"
    assert manifest["seed"] == 0 and manifest["bundle"]["seed_from"] == "initialize#0"
    assert manifest["epochs_completed"] == 1 and manifest["data"]["files"] > 0
    assert manifest["determinism"]["changed_by_bundle"] == {} and manifest["determinism"]["deterministic_algorithms"] is True
    final = torch.load(root / "models" / "final_model.pt", weights_only=True)
    assert weights_digest(final["model"]) == manifest["weights_digest"]
    assert f"weights:       {manifest['weights_digest']}" in result.stdout
    assert manifest["reproduce"].startswith(f"mmar train {root}")


def test_verify_a_bundle_with_scripts_is_bit_identical(bundle: Callable[..., Path]) -> None:
    root = bundle("seg3d_scripts")
    result = invoke("verify", str(root), "--iterations", "0")
    assert result.exit_code == 0, result.stdout + result.stderr[-3000:]
    assert "bit-identical" in result.stdout
    assert not (root / "models").exists()  # verify's runs wrote to their own folders


def test_set_overrides_reach_the_run_and_the_manifest(bundle: Callable[..., Path]) -> None:
    root = bundle("seg3d_glob")
    result = invoke("train", str(root), "--set", "train#trainer#max_epochs=2", "optimizer#lr=0.01")
    assert result.exit_code == 0, result.stderr[-3000:]
    manifest = manifest_of(root)
    assert manifest["epochs_completed"] == 2 and manifest["max_epochs"] == 2
    assert manifest["overrides"] == {"train#trainer#max_epochs": 2, "optimizer#lr": 0.01}
    assert shlex.split(manifest["reproduce"])[-3:] == ["--set", "train#trainer#max_epochs=2", "optimizer#lr=0.01"]


@pytest.mark.parametrize("word, said", [
    ("optimizer#lr=$__import__('os').system('touch PWNED')", "would be run or resolved by MONAI"),
    ("network=@network_def", "would be run or resolved by MONAI"),
    ('loss={"_target_": "os.system", "command": "touch PWNED"}', "a mapping with '_target_' would be instantiated"),
    ("train#trainer#max_epochs=[1, \"%configs/train.json#loss\"]", "would be run or resolved by MONAI"),
    ("trainr#max_epochs=2", "no item has that id"),
])
def test_hostile_set_words_are_refused_and_leave_nothing(bundle: Callable[..., Path], word: str, said: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = bundle("seg3d_glob")
    monkeypatch.chdir(root)
    result = invoke("train", str(root), "--set", word)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert said in result.stderr and "--set: " in result.stderr
    assert not (root / "models").exists() and not (root / "PWNED").exists()


def test_a_broken_bundle_is_exit_2_before_anything_runs(bundle: Callable[..., Path]) -> None:
    def break_it(config: dict[str, Any]) -> None:
        config["loss"]["_target_"] = "DiceLos"
        config["initialize"].append("$open(@bundle_root + '/RAN', 'w').close()")

    root = bundle("seg3d_glob", break_it)
    result = invoke("train", str(root))
    assert result.exit_code == 2
    assert "configs/train.json: loss#_target_: unknown _target_ 'DiceLos'" in result.stderr
    assert not (root / "models").exists() and not (root / "RAN").exists()


def test_the_bundles_seed_and_its_non_deterministic_request_are_honoured_and_said(bundle: Callable[..., Path]) -> None:
    def ask(config: dict[str, Any]) -> None:
        config["initialize"] = ["$monai.utils.set_determinism(seed=7)", "$setattr(torch.backends.cudnn, 'benchmark', True)"]

    root = bundle("seg3d_glob", ask)
    result = invoke("train", str(root))
    assert result.exit_code == 0, result.stderr[-3000:]
    manifest = manifest_of(root)
    assert manifest["seed"] == 7 and manifest["bundle"]["seed_from"] == "initialize#0"
    determinism = manifest["determinism"]
    assert determinism["bitwise_reproducible"] is False and determinism["cudnn_benchmark"] is True
    assert determinism["changed_by_bundle"]["cudnn_benchmark"] == {"pinned": False, "bundle": True}
    assert "not bitwise reproducible" in result.stderr


def test_the_seed_changes_the_weights_and_the_data_rngs_are_pinned(bundle: Callable[..., Path]) -> None:
    """The bundle's seed is the run's seed: another literal trains other weights; without one the default is said."""
    def reseed(config: dict[str, Any]) -> None:
        config["initialize"] = ["$monai.utils.set_determinism(seed=1)"]

    def unseeded(config: dict[str, Any]) -> None:
        config["initialize"] = []

    digests = []
    for label, edit in (("zero", None), ("one", reseed), ("none", unseeded)):
        root = bundle("seg3d_glob", edit, label)
        assert invoke("train", str(root)).exit_code == 0
        manifest = manifest_of(root)
        digests.append(manifest["weights_digest"])
        assert manifest["determinism"]["data_rngs_pinned"]["train#dataset"] == 2  # the Compose and its RandFlipd
    assert digests[0] != digests[1]
    assert digests[2] == digests[0]  # no set_determinism: pinned with the default seed, 0, as the fixture's own
    assert manifest["bundle"]["seed_from"] == "default"


STOPPER = '''
import os
import signal
from pathlib import Path


class StopOnce:
    """Sends this process SIGTERM once, after a chosen iteration (the marker file says it already did)."""

    def __init__(self, at_iteration, marker):
        self.at_iteration, self.marker = at_iteration, Path(marker)

    def attach(self, engine):
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine):
        if engine.state.iteration == self.at_iteration and not self.marker.exists():
            self.marker.write_text("sent")
            os.kill(os.getpid(), signal.SIGTERM)
'''


@pytest.mark.parametrize("at_iteration", [3, 4])  # mid-epoch, and at an epoch's end
def test_resume_after_sigterm_is_bit_identical(bundle: Callable[..., Path], tmp_path: Path, at_iteration: int) -> None:
    marker = tmp_path / "stopped"

    def add_stopper(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"_target_": "scripts.stopper.StopOnce", "at_iteration": at_iteration,
                                            "marker": str(marker)})
        config["train"]["trainer"]["max_epochs"] = 3

    def train(root: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runner", "train", str(root), "--no-progress"], capture_output=True,
                              text=True, cwd=REPO)

    roots = []
    for label in ("reference", "stopped"):
        root = bundle("seg3d_scripts", add_stopper, label)
        (root / "scripts" / "stopper.py").write_text(STOPPER)
        roots.append(root)
    marker.write_text("already")
    reference = train(roots[0])
    assert reference.returncode == 0, reference.stderr[-3000:]
    marker.unlink()
    stopped = train(roots[1])
    assert stopped.returncode == 75, stopped.stderr[-3000:]
    assert "stopped on SIGTERM" in stopped.stderr and manifest_of(roots[1])["status"] == "preempted"
    resumed = train(roots[1])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = manifest_of(roots[1])
    assert manifest["resumed_from"] and manifest["status"] == "completed"
    assert manifest["weights_digest"] == manifest_of(roots[0])["weights_digest"]


def test_validate_and_infer_run_the_bundles_evaluate_and_inference_configs(bundle: Callable[..., Path]) -> None:
    root = bundle("seg3d_glob")
    assert invoke("train", str(root)).exit_code == 0
    trained = manifest_of(root)
    validated = invoke("validate", str(root))
    assert validated.exit_code == 0, validated.stderr[-3000:]
    manifest = manifest_of(root, "eval/validate_manifest.json")
    assert manifest["status"] == "completed" and manifest["cases"] == 1
    assert manifest["model"]["weights_digest"] == trained["weights_digest"]  # the checkpoint evaluate.json loads
    assert manifest["metrics"]["val_mean_dice"] == pytest.approx(trained["key_metric"]["best"])
    inferred = invoke("infer", str(root))
    assert inferred.exit_code == 0, inferred.stderr[-3000:]
    assert sorted(p.name for p in (root / "eval").glob("*_seg.nii.gz")) == [f"case0{i}_seg.nii.gz" for i in range(4)]
    assert manifest_of(root, "eval/infer_manifest.json")["cases"] == 4


def test_validate_without_evaluate_json_says_what_to_add(bundle: Callable[..., Path]) -> None:
    root = bundle("cls2d")
    result = invoke("validate", str(root))
    assert result.exit_code == 2
    assert "configs/evaluate.json not found" in result.stderr and "-c a.json,b.json" in result.stderr


def test_nproc_2_trains_with_the_bundles_own_multi_gpu_config(bundle: Callable[..., Path]) -> None:
    """The runner starts torchrun and the process group (gloo here) before the bundle's initialize, whose
    ``dist.is_initialized() or dist.init_process_group(backend='nccl')`` then keeps it; rank 0 alone writes."""
    root = bundle("seg3d_glob")
    configs = "configs/train.json,configs/multi_gpu_train.json"
    result = subprocess.run([sys.executable, "-m", "runner", "train", str(root), "-c", configs, "--nproc", "2", "--no-progress"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = manifest_of(root)
    assert manifest["status"] == "completed" and manifest["world_size"] == 2
    assert manifest["iterations"] == 1  # 3 training cases padded to 4, 2 per rank: one batch of 2 each
    assert "--nproc 2" in manifest["reproduce"]
    final = torch.load(root / "models" / "final_model.pt", weights_only=True)
    assert weights_digest(final["model"]) == manifest["weights_digest"]


def test_a_component_its_values_cannot_build_is_exit_2_naming_it(bundle: Callable[..., Path]) -> None:
    root = bundle("seg3d_glob")
    result = invoke("train", str(root), "--set", "train#dataloader#batch_size=0")
    assert result.exit_code == 2
    assert "train#trainer: Failed to instantiate component 'monai.data.dataloader.DataLoader'" in result.stderr
    assert "ValueError: batch_size should be a positive integer value" in result.stderr
    assert not (root / "models").exists()


def test_a_bundle_written_for_an_older_monai_trains_with_its_arguments_rewritten(bundle: Callable[..., Path]) -> None:
    """UNet(dimensions=...) fails to build on today's MONAI; the run rewrites it as the check said, and records it."""
    def edit(config: dict[str, Any]) -> None:
        config["network_def"]["dimensions"] = config["network_def"].pop("spatial_dims")

    root = bundle("seg3d_glob", edit)
    result = invoke("train", str(root))
    assert result.exit_code == 0, result.stderr[-3000:]
    assert "UNet(dimensions=...) is gone since MONAI 1.2.0; running it as spatial_dims" in result.stderr
    manifest = manifest_of(root)
    assert manifest["status"] == "completed"
    assert manifest["bundle"]["legacy_arguments"] == [{"item_id": "network_def", "target": "UNet", "old": "dimensions",
                                                       "new": "spatial_dims", "since": "1.2.0"}]
    assert json.loads((root / "configs" / "train.json").read_text())["network_def"]["dimensions"] == 3  # the bundle is not edited


def test_verify_names_the_first_diverging_tensor_of_a_bundle(bundle: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["random_transforms"].append({"_target_": "scripts.noisy.UnseededNoised", "keys": "image"})

    root = bundle("seg3d_scripts", edit)
    (root / "scripts" / "noisy.py").write_text(UNSEEDED)
    result = invoke("verify", str(root), "--iterations", "0", "--keep", str(tmp_path / "runs"))
    assert result.exit_code == 1, result.stdout + result.stderr[-3000:]
    first = manifest_of(tmp_path / "runs" / "run1", "run_manifest.json")
    assert f"first in model order: {next(iter(first['tensor_digests']))}" in result.stdout
    assert "a random source the runner does not seed" in result.stdout
