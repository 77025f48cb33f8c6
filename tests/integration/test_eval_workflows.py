"""The demo bundle after training: export, validate (checkpoint and TorchScript), infer, finetune.

One tiny training run per module; every later command runs on its outputs, as a user would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch

from tests.cli_helpers import invoke
from tests.conftest import DEMO_BUNDLE, TINY_SET
from tests.integration.test_bad_input import assert_bad_input

pytestmark = pytest.mark.slow

EVAL_SET = ["val_roi_size=[48,48,48]", "num_workers=0"]
TS = ["dont_load_ts_model=False", "dont_load_ckpt_model=True"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path) -> Path:
    root = tmp_path_factory.mktemp("eval") / "spleen"
    shutil.copytree(DEMO_BUNDLE, root, ignore=shutil.ignore_patterns("data", "models", "eval"))
    (root / "data").mkdir()
    (root / "data" / "synthetic").symlink_to(synthetic_data, target_is_directory=True)
    result = invoke("train", str(root), "--set", *TINY_SET)
    assert result.exit_code == 0, result.stderr[-3000:]
    return root


def run(*args: str) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr[-3000:]
    return result


def manifest(root: Path, command: str) -> dict[str, Any]:
    return json.loads((root / "eval" / f"{command}_manifest.json").read_text())


def test_export_round_trips(trained: Path) -> None:
    out = run("export", str(trained)).stdout
    assert "torch.jit.script" in out and "bit-identical" in out
    ts = torch.jit.load(str(trained / "models" / "model.ts"), _extra_files=(extra := {"mmar_export.json": ""}))
    metadata = json.loads(extra["mmar_export.json"])
    checkpoint = torch.load(trained / "models" / "model.pt", weights_only=True)["model"]
    assert set(ts.state_dict()) == set(checkpoint)
    assert all(torch.equal(ts.state_dict()[k], checkpoint[k]) for k in checkpoint)
    assert metadata["checkpoint"] == str(trained / "models" / "model.pt") and metadata["method"] == "script"


def test_validate_from_checkpoint_and_from_torchscript_agree(trained: Path) -> None:
    run("export", str(trained))
    run("validate", str(trained), "--set", *EVAL_SET)
    from_ckpt = manifest(trained, "validate")
    run("validate", str(trained), "--set", *EVAL_SET, *TS)
    from_ts = manifest(trained, "validate")
    assert from_ckpt["model"]["entry"] == "model[1]" and from_ts["model"]["entry"] == "model[0]"
    assert from_ckpt["metrics"]["val_mean_dice"] == from_ts["metrics"]["val_mean_dice"]
    assert from_ckpt["model"]["weights_digest"] == from_ts["model"]["weights_digest"]
    assert from_ckpt["cases"] == 2
    assert (trained / "eval" / "val_mean_dice_raw.csv").is_file() and (trained / "eval" / "metrics.csv").is_file()


def test_validated_dice_is_the_best_one_training_saw(trained: Path) -> None:
    """model.pt is the best-Dice checkpoint, so validating it on the same cases reproduces that Dice."""
    run("validate", str(trained), "--set", *EVAL_SET)
    best = json.loads((trained / "models" / "run_manifest.json").read_text())["key_metric"]["best"]
    assert manifest(trained, "validate")["metrics"]["val_mean_dice"] == pytest.approx(best, abs=1e-6)


def test_infer_writes_one_nifti_per_test_case_with_the_inputs_affine(trained: Path, synthetic_data: Path) -> None:
    run("infer", str(trained), "--set", *EVAL_SET)
    tests = json.loads((synthetic_data / "dataset.json").read_text())["test"]
    written = sorted((trained / "eval").glob("*_seg.nii.gz"))
    assert len(written) == len(tests) == manifest(trained, "infer")["cases"]
    for case, output in zip(sorted(tests, key=lambda c: c["image"]), written, strict=True):
        source = nib.load(synthetic_data / case["image"])
        predicted = nib.load(output)
        assert output.name == Path(case["image"]).name.replace(".nii.gz", "_seg.nii.gz")
        assert predicted.shape == source.shape and np.allclose(predicted.affine, source.affine)
        assert set(np.unique(np.asarray(predicted.dataobj))) <= {0, 1}


def test_finetune_starts_from_the_checkpoint(trained: Path, tmp_path: Path) -> None:
    fresh = run("train", str(trained), "--set", *TINY_SET, "epochs=1", f"MMAR_CKPT_DIR={tmp_path / 'fresh'}")
    tuned = run("finetune", str(trained), "--set", *TINY_SET, "epochs=1", f"MMAR_CKPT_DIR={tmp_path / 'tuned'}",
                f"MMAR_CKPT={trained / 'models' / 'model.pt'}")
    digest = {name: line.split()[-1] for name, out in (("fresh", fresh.stdout), ("tuned", tuned.stdout))
              for line in out.splitlines() if line.startswith("weights:")}
    assert digest["fresh"] != digest["tuned"], "fine-tuning must not start from fresh weights"
    assert json.loads((tmp_path / "tuned" / "run_manifest.json").read_text())["command"] == "finetune"


def test_finetune_without_a_checkpoint_is_bad_input(trained: Path, tmp_path: Path) -> None:
    result = invoke("finetune", str(trained), "--set", *TINY_SET, f"MMAR_CKPT={tmp_path / 'none.pt'}",
                    f"MMAR_CKPT_DIR={tmp_path / 'out'}")
    assert_bad_input(result, "train.handlers[0].args.load_path: checkpoint", "none.pt not found")
    assert not (tmp_path / "out").exists()


def test_two_enabled_models_is_bad_input(trained: Path) -> None:
    result = invoke("validate", str(trained), "--set", *EVAL_SET, "dont_load_ts_model=False")
    assert_bad_input(result, "config/config_validation.json", "exactly one model entry must be enabled, 2 are")


def test_ts_path_that_is_not_torchscript_is_bad_input(trained: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.ts"
    fake.write_bytes(b"this is not a model")
    result = invoke("validate", str(trained), "--set", *EVAL_SET, *TS, f"MMAR_TORCHSCRIPT={fake}")
    assert_bad_input(result, "config/config_validation.json: model[0].ts_path:", "fake.ts is not a TorchScript model",
                     "mmar export")
    checkpoint_as_ts = invoke("validate", str(trained), "--set", *EVAL_SET, *TS, f"MMAR_TORCHSCRIPT={trained / 'models' / 'model.pt'}")
    assert_bad_input(checkpoint_as_ts, "model[0].ts_path:", "model.pt is not a TorchScript model")


def test_a_40_dialect_validation_config_is_wired_implicitly(trained: Path) -> None:
    """No @references: the runner joins model, data, metrics and evaluator itself, as Clara 4.0 did."""
    config = json.loads((trained / "config" / "config_validation.json").read_text())
    config.pop("CLARA_TRAIN_VERSION")
    config["dataset"]["args"] = {}
    config["dataloader"]["args"].pop("dataset")
    metric = config.pop("key_metric")
    metric["is_key_metric"] = True
    metric["args"]["output_transform"] = "lambda x: ([i['pred'] for i in x], [i['label'] for i in x])"
    config["metrics"] = [metric]
    config["evaluator"]["args"] = {}
    (trained / "config" / "config_validation_40.json").write_text(json.dumps(config))
    run("validate", str(trained), "-c", "config/config_validation_40.json", "--set", *EVAL_SET)
    implicit = manifest(trained, "validate")
    assert implicit["dialect"] == "4.0"
    run("validate", str(trained), "--set", *EVAL_SET)
    assert manifest(trained, "validate")["metrics"] == implicit["metrics"]
