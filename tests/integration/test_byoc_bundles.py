"""Every BYOC bundle trains, does what its README line says, and repeats bit for bit.

Each test copies a bundle from bundles/, points its data/synthetic at the session's synthetic
data (the same cases its commands/make_data.sh makes), appends a spy handler from
tests/fixtures/byoc_spies.py, trains in-process through the CLI, and asserts on what the spy saw.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from runner.components.build import Builder
from runner.config.load import load_train_config
from runner.mmar import custom_code_on_path
from tests.cli_helpers import invoke

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SPIES = REPO / "tests" / "fixtures" / "byoc_spies.py"
BUNDLES = ["byoc_extra_input", "byoc_init_weights", "byoc_add_noise", "byoc_shutdown", "byoc_accumulate",
           "byoc_custom_events", "byow_trainer"]


@pytest.fixture
def bundle(tmp_path: Path, synthetic_data: Path) -> Callable[..., Path]:
    """``bundle(name, spy=None)``: a copy of bundles/<name> with its data in place and an optional spy handler."""

    def copy(name: str, spy: str | None = None, label: str = "copy") -> Path:
        root = tmp_path / f"{name}-{label}"
        shutil.copytree(REPO / "bundles" / name, root, ignore=shutil.ignore_patterns("data", "*.pt", "*.json.tmp", "__pycache__"))
        for stale in (root / "models").glob("*.json"):
            stale.unlink()
        (root / "data").mkdir()
        (root / "data" / "synthetic").symlink_to(synthetic_data, target_is_directory=True)
        if spy:
            shutil.copy(SPIES, root / "custom" / "spies.py")
            config_file = root / "config" / "config_train.json"
            config = json.loads(config_file.read_text())
            config["train"]["handlers"].append({"path": f"spies.{spy}", "args": {"out": str(root / "spy.json")}})
            config_file.write_text(json.dumps(config, indent=2))
        return root

    return copy


def train(root: Path, *sets: str) -> dict[str, Any]:
    result = invoke("train", str(root), *(["--set", *sets] if sets else []))
    assert result.exit_code == 0, result.stderr[-3000:]
    manifest = json.loads((root / "models" / "run_manifest.json").read_text())
    assert manifest["status"] == "completed"
    manifest["_stderr"] = result.stderr
    return manifest


def spied(root: Path) -> dict[str, Any]:
    return json.loads((root / "spy.json").read_text())


@pytest.mark.parametrize("name", BUNDLES)
def test_two_runs_of_a_bundle_give_the_same_weights(bundle: Callable[..., Path], name: str) -> None:
    first, second = train(bundle(name, label="a")), train(bundle(name, label="b"))
    assert first["weights_digest"] == second["weights_digest"]
    assert first["custom_code_digest"] == second["custom_code_digest"] is not None
    assert first["weights_digest"] != "sha256:" + "0" * 64


def test_extra_input_reaches_the_network_forward(bundle: Callable[..., Path]) -> None:
    root = bundle("byoc_extra_input", spy="ExtraInputSpy")
    manifest = train(root)
    seen = spied(root)
    assert seen["forwards"] == manifest["iterations"] == 8
    assert seen["extra_matched"] == seen["forwards"], "the network ran without this batch's extra tensor"
    assert seen["output_changes_with_extra"] is True


def test_loss_sees_the_weights_from_before_the_first_step(bundle: Callable[..., Path]) -> None:
    root = bundle("byoc_init_weights", spy="InitWeightsSpy")
    train(root)
    seen = spied(root)
    assert seen["loss_init_weights"] == seen["weights_at_start"]
    assert seen["weights_at_end"] != seen["weights_at_start"]
    penalties = seen["penalties"]
    assert penalties[0] == 0.0, "at the first iteration the weights still are the initial ones"
    assert all(p > 0 for p in penalties[1:]), "after a step the weights differ from the kept copy"


def test_loss_is_computed_on_the_shifted_prediction(bundle: Callable[..., Path]) -> None:
    """The seed's AddNoiseHandler adds 1.0 in place at FORWARD_COMPLETED; the loss must see exactly that."""
    root = bundle("byoc_add_noise", spy="AddNoiseSpy")
    train(root)
    seen = spied(root)
    assert len(seen["shift"]) == 8
    assert all(abs(low - 1.0) < 1e-5 and abs(high - 1.0) < 1e-5 for low, high in seen["shift"]), seen["shift"]
    assert all(seen["loss_matches_modified"]) and not any(seen["loss_matches_raw"])


def test_shutdown_stops_at_the_first_loss_below_the_threshold(bundle: Callable[..., Path]) -> None:
    root = bundle("byoc_shutdown", spy="LossSpy")
    manifest = train(root)
    losses = spied(root)["losses"]
    assert losses[-1] < 0.5 and all(loss >= 0.5 for loss in losses[:-1]), losses
    assert manifest["iterations"] == len(losses) < manifest["planned_iterations"] == 50 * 2
    assert manifest["ended_early"] is True
    assert "< 0.5 at iteration" in manifest["_stderr"] and "stopping" in manifest["_stderr"]


def test_accumulation_steps_the_optimizer_every_tenth_iteration(bundle: Callable[..., Path]) -> None:
    root = bundle("byoc_accumulate", spy="OptimizerStepSpy")
    manifest = train(root)
    seen = spied(root)
    assert manifest["iterations"] == seen["iterations"] == 30
    assert seen["steps_at"] == [10, 20, 30]


def test_handlers_fire_on_the_custom_trainers_own_event(bundle: Callable[..., Path]) -> None:
    root = bundle("byoc_custom_events", spy="CustomEventSpy")
    manifest = train(root)
    # 4 iterations per epoch, accumulation_steps 3: a step at positions 3 and 4 (end of epoch) of each epoch.
    expected = [i for epoch in range(4) for i in (epoch * 4 + 3, epoch * 4 + 4)]
    assert spied(root)["fired_at"] == expected
    assert manifest["trainer"]["class"] == "custom_trainer.CustomTrainer"
    logged = [line for line in manifest["_stderr"].splitlines() if line.startswith("accumulate_completed: optimizer step")]
    assert len(logged) == len(expected), "the bundle's own AccumulationLogger did not run at each event"


def test_byow_trainer_gets_typed_args_and_writes_its_checkpoint(bundle: Callable[..., Path]) -> None:
    root = bundle("byow_trainer")
    loaded = load_train_config(root)
    with custom_code_on_path(root):
        trainer = Builder(loaded, device=torch.device("cpu"), amp=False).get("train", "trainer")
    assert type(trainer.num_epochs) is int and trainer.num_epochs == 4
    assert type(trainer.amp) is bool and trainer.amp is True
    assert type(trainer.lr) is float and trainer.lr == 2e-3
    assert trainer.model_path == root / "models" / "model.pt"

    manifest = train(root, "epochs=2")
    assert manifest["trainer"] == {"class": "byoc_trainer.Trainer", "kind": "bring-your-own"}
    assert manifest["epochs_completed"] is None
    saved = torch.load(root / "models" / "model.pt", weights_only=True)["model"]
    assert set(saved) == set(torch.load(root / "models" / "final_model.pt", weights_only=True)["model"])


def test_bundle_commands_make_the_same_data_and_train(bundle: Callable[..., Path], synthetic_data: Path) -> None:
    import os
    import subprocess
    import sys

    root = bundle("byoc_shutdown")
    (root / "data" / "synthetic").unlink()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for script in ("make_data.sh", "train.sh"):
        done = subprocess.run(["bash", str(root / "commands" / script)], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    made = sorted(p.relative_to(root / "data" / "synthetic") for p in (root / "data" / "synthetic").rglob("*.nii.gz"))
    assert made and made == sorted(p.relative_to(synthetic_data) for p in synthetic_data.rglob("*.nii.gz"))
    assert all((root / "data" / "synthetic" / p).read_bytes() == (synthetic_data / p).read_bytes() for p in made)
    manifest = json.loads((root / "models" / "run_manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["ended_early"] is True
