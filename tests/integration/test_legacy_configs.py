"""Configs in the MONAI 0.5-0.8 style run with one warning per legacy name; `mmar migrate` removes every one.

The fixture tests/fixtures/legacy_mmar is our own config, written with names that MONAI has
renamed or removed since Clara Train 4.0/4.1: classes, arguments, handlers that became
post-transforms, and output_transform lambdas for batched output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import invoke
from tests.integration.test_bad_input import assert_bad_input

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_mmar"
LEGACY_NAMES = {
    "LoadNiftid", "AddChanneld", "AsChannelFirstd", "SplitChanneld", "TransformInverter", "SegmentationSaver",
    "dimensions", "ce_weight", "as_tensor_output", "post_transform", "n_classes", "num_classes", "threshold_values",
    "lambda x: x['loss']", "lambda x: (x['pred'], x['label'])",
}


@pytest.fixture
def legacy_mmar(tmp_path: Path, synthetic_data: Path) -> Path:
    root = tmp_path / "legacy"
    shutil.copytree(FIXTURE, root)
    (root / "config" / "environment.json").write_text(json.dumps({"DATA_ROOT": str(synthetic_data),
                                                                  "DATASET_JSON": str(synthetic_data / "dataset.json")}))
    return root


def alias_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:") and "is gone since MONAI" in line]


def digest(stdout: str) -> str:
    return next(line.split()[-1] for line in stdout.splitlines() if line.startswith("weights:"))


def test_legacy_config_runs_with_one_warning_per_legacy_name(legacy_mmar: Path) -> None:
    result = invoke("train", str(legacy_mmar))
    assert result.exit_code == 0, result.stderr[-3000:]
    warned = alias_warnings(result.stderr)
    found = {name for name in LEGACY_NAMES if any(name in line for line in warned)}
    assert found == LEGACY_NAMES, LEGACY_NAMES - found
    assert len(warned) == len(set(warned)), "one warning per use, not repeated"
    assert "config/config_train.json: train.model.args.dimensions:" in result.stderr
    assert len(list((legacy_mmar / "eval").rglob("*_seg.nii.gz"))) == 2, "SegmentationSaver's job, now SaveImaged, still happens"


def test_migrated_copy_runs_without_aliases_and_trains_the_same_weights(legacy_mmar: Path, tmp_path: Path) -> None:
    original = (legacy_mmar / "config" / "config_train.json").read_bytes()
    before = invoke("train", str(legacy_mmar))
    assert before.exit_code == 0, before.stderr[-3000:]
    out = tmp_path / "modern"
    migrated = invoke("migrate", str(legacy_mmar), "--out", str(out))
    assert migrated.exit_code == 0, migrated.stderr
    assert "config/config_train.json: 21 changes" in migrated.stdout
    assert (legacy_mmar / "config" / "config_train.json").read_bytes() == original, "the original is never touched"
    assert not (out / "models" / "final_model.pt").exists(), "outputs are not copied"
    text = (out / "config" / "config_train.json").read_text()
    assert all(old not in text for old in ("LoadNiftid", "AddChanneld", "dimensions", "post_transform\"", "n_classes", "SegmentationSaver"))
    after = invoke("train", str(out))
    assert after.exit_code == 0, after.stderr[-3000:]
    assert alias_warnings(after.stderr) == []
    assert digest(after.stdout) == digest(before.stdout)


def test_old_and_new_argument_together_run_when_they_agree_and_are_bad_input_when_not(legacy_mmar: Path, tmp_path: Path) -> None:
    config_file = legacy_mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["dims"] = config["train"]["model"]["args"]["dimensions"]
    config["train"]["model"]["args"]["spatial_dims"] = "{dims}"
    config_file.write_text(json.dumps(config))
    agreeing = invoke("check", str(legacy_mmar))
    assert agreeing.exit_code == 0, agreeing.stderr
    assert ("warning: config/config_train.json: train.model.args.dimensions: 'dimensions' (3) is gone since MONAI 1.2.0 and is given "
            "together with its replacement 'spatial_dims' ('{dims}'); they agree") in agreeing.stderr

    config["train"]["model"]["args"]["spatial_dims"] = 2
    config_file.write_text(json.dumps(config))
    assert_bad_input(invoke("check", str(legacy_mmar)),
                     "train.model.args: the legacy 'dimensions' (3) and its replacement 'spatial_dims' (2) are both given and disagree",
                     "hint: keep one: remove 'dimensions'")
    assert_bad_input(invoke("migrate", str(legacy_mmar), "--out", str(tmp_path / "never")), "the legacy 'dimensions' (3)")
    assert not (tmp_path / "never").exists()


def test_migrate_refuses_to_overwrite(legacy_mmar: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    assert_bad_input(invoke("migrate", str(legacy_mmar), "--out", str(tmp_path / "taken")), "already exists", "--force")
