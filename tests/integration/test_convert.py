"""mmar convert: the bundle trains to the MMAR's weights under mmar train, python -m monai.bundle run and mmar train BUNDLE.

Each MMAR is copied, pointed at the session's synthetic data with --set (as Clara's train.sh
did), converted once (module-scoped), and trained. Three runs for the demo, a 4.0 implicit-dialect
fixture and every BYOC bundle under bundles/ (MONAI's own runner in a subprocess, as a user types
it); two runs (the MMAR and the converted bundle under mmar train) for the other MMARs the project
trains, since MONAI's parser spends most of a subprocess run importing every MONAI module. What a
bundle cannot express is refused with exit 2, naming the file and JSON path, and nothing is written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import invoke
from tests.integration.test_bad_input import assert_bad_input
from tests.integration.test_clara_4x_mmars import wsi_data  # noqa: F401 - the pathology MMAR's slide, a module fixture

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "clara_4x"
SMALL_DEMO = ["epochs=2", "num_interval_per_valid=1", "patch_size=[32,32,32]", "val_roi_size=[32,32,32]", "channels=[4,8,16]",
              "strides=[2,2]"]
SOURCES = {"spleen_ct_seg": REPO / "bundles" / "spleen_ct_seg", **{n: REPO / "bundles" / n for n in (
    "byoc_add_noise", "byoc_accumulate", "byoc_extra_input", "byoc_init_weights", "byoc_shutdown", "byow_trainer",
    "byoc_custom_events")}, **{n: FIXTURES / n for n in (
    "gs_unet_40", "gs_unet_41", "gs_segresnet_41", "byoc_arch_loss_41", "automl_search_40", "automl_loss_optimizer_41",
    "deepgrow_3d_40", "pathology_40", "byoc_transform_40", "byoc_transform_41")}}
EXTRA = {"spleen_ct_seg": SMALL_DEMO}
CONFIG = {"pathology_40": "config/config_train_smartcache.json"}
BYOC_BUNDLES = ["byoc_add_noise", "byoc_accumulate", "byoc_custom_events", "byoc_extra_input", "byoc_init_weights", "byoc_shutdown"]
THREE_RUNS = ["spleen_ct_seg", "gs_unet_40", *BYOC_BUNDLES]
TWO_RUNS = ["gs_unet_41", "gs_segresnet_41", "byoc_arch_loss_41", "automl_search_40", "automl_loss_optimizer_41", "deepgrow_3d_40",
            "pathology_40"]
# A bundle without configs/logging.conf logs nothing at INFO under MONAI; these get one to show their handlers' lines.
INFO_LOGGING = REPO / "tests" / "fixtures" / "info_logging.conf"
LOGS_READ = {"byoc_custom_events"}
CUSTOM_EVENT_LINE = "accumulate_completed: optimizer step"


class Converted:
    """One MMAR copied, converted and trained; each run's digest computed once for the module."""

    def __init__(self, name: str, folder: Path, data: Path, datalist: str = "dataset.json") -> None:
        self.name = name
        self.mmar = folder / name
        shutil.copytree(SOURCES[name], self.mmar, ignore=shutil.ignore_patterns("data", "*.pt", "__pycache__", "run_manifest.json"))
        self.sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / datalist}", *EXTRA.get(name, [])]
        self.config = ["-c", CONFIG[name]] if name in CONFIG else []
        self.bundle = folder / f"{name}-bundle"
        self.result = invoke("convert", str(self.mmar), *self.config, "--out", str(self.bundle), "--set", *self.sets)
        self._runs: dict[str, tuple[str, str]] = {}

    def mmar_digest(self) -> str:
        return self.run("mmar")[0]

    def bundle_digest(self) -> str:
        return self.run("bundle")[0]

    def monai_digest(self) -> str:
        return self.run("monai")[0]

    def run(self, how: str) -> tuple[str, str]:
        """(weights digest, log) of one way of training, run once for the module: ``mmar``, ``bundle`` or ``monai``."""
        if how not in self._runs:
            if how == "mmar":
                self._runs[how] = train(self.mmar, *self.config, "--set", *self.sets)
            elif how == "bundle":
                self._runs[how] = train(self.bundle)
            else:
                self._runs[how] = monai_bundle_run(self.bundle, INFO_LOGGING if self.name in LOGS_READ else None)
        return self._runs[how]


def train(root: Path, *options: str) -> tuple[str, str]:
    result = invoke("train", str(root), "--no-progress", *options)
    assert result.exit_code == 0, result.stderr[-3000:]
    manifest = json.loads((root / "models" / "run_manifest.json").read_text())
    assert manifest["status"] == "completed"
    return manifest["weights_digest"], result.stderr


def monai_bundle_run(bundle: Path, logging_file: Path | None = None) -> tuple[str, str]:
    """``python -m monai.bundle run`` as a user types it in the bundle folder; the digest of the final_model.pt it saved."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    env.pop("PYTHONPATH", None)
    logging = ["--logging_file", str(logging_file)] if logging_file else []
    done = subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json",
                           "--meta_file", "configs/metadata.json", "--bundle_root", ".", *logging],
                          cwd=bundle, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    import torch

    from runner.manifest import weights_digest

    return weights_digest(torch.load(bundle / "models" / "final_model.pt", weights_only=True)["model"]), done.stderr


@pytest.fixture(scope="module")
def conversions(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path, wsi_data: Path) -> Any:  # noqa: F811
    folder = tmp_path_factory.mktemp("convert")
    made: dict[str, Converted] = {}

    def get(name: str) -> Converted:
        if name not in made:
            made[name] = Converted(name, folder, *((wsi_data, "datalist.json") if name == "pathology_40" else (synthetic_data,)))
        return made[name]

    return get


def test_the_demo_converts_and_says_how_to_run_it(conversions) -> None:  # type: ignore[no-untyped-def]
    demo = conversions("spleen_ct_seg")
    assert demo.result.exit_code == 0, demo.result.stderr
    lines = demo.result.stdout.splitlines()
    assert f"wrote {demo.bundle / 'configs' / 'train.json'}" in lines
    assert f"wrote {demo.bundle / 'scripts' / 'mmar_pins.py'}" in lines
    assert lines[-1] == (f"run it with: cd {demo.bundle} && python -m monai.bundle run --config_file configs/train.json "
                         "--meta_file configs/metadata.json --bundle_root .")
    checked = invoke("check", str(demo.bundle))
    assert checked.exit_code == 0, checked.stderr


@pytest.mark.parametrize("name", THREE_RUNS)
def test_three_runs_give_one_digest(conversions, name: str) -> None:  # type: ignore[no-untyped-def]
    case = conversions(name)
    assert case.result.exit_code == 0, case.result.stderr
    assert case.monai_digest() == case.mmar_digest(), "python -m monai.bundle run trained other weights than mmar train MMAR"
    assert case.bundle_digest() == case.mmar_digest(), "mmar train BUNDLE trained other weights than mmar train MMAR"


@pytest.mark.parametrize("name", TWO_RUNS)
def test_the_converted_bundle_trains_the_mmars_weights(conversions, name: str) -> None:  # type: ignore[no-untyped-def]
    case = conversions(name)
    assert case.result.exit_code == 0, case.result.stderr
    assert case.bundle_digest() == case.mmar_digest()


def test_a_clara_era_trainers_own_event_fires_its_handlers_in_all_three_runs(conversions) -> None:  # type: ignore[no-untyped-def]
    case = conversions("byoc_custom_events")
    assert case.result.exit_code == 0, case.result.stderr
    trainer = json.loads((case.bundle / "configs" / "train.json").read_text())["train"]["trainer"]
    assert trainer["_target_"] == "$scripts.mmar_pins.legacy_event_hook('scripts.custom_trainer.CustomTrainer')"
    checked = invoke("check", str(case.bundle))
    assert checked.exit_code == 0, checked.stderr
    # 4 epochs of 4 iterations, accumulation_steps 3: an optimizer step at iterations 3 and 4 of each epoch.
    expected = [f"{CUSTOM_EVENT_LINE} {n} at iteration {epoch * 4 + i}," for n, (epoch, i) in
                enumerate(((e, i) for e in range(4) for i in (3, 4)), start=1)]
    for how in ("mmar", "monai", "bundle"):
        logged = [line[line.index(CUSTOM_EVENT_LINE):] for line in case.run(how)[1].splitlines() if CUSTOM_EVENT_LINE in line]
        assert [line.split(" gradient")[0] for line in logged] == expected, how


@pytest.mark.parametrize(("name", "where", "why"), [
    ("byow_trainer", "config/config_train.json: train.trainer.path", "bring-your-own trainer"),
    ("byoc_transform_40", "config/config_train.json: train.pre_transforms[7].path", "MONAI 0.8's numpy arrays"),
    ("byoc_transform_41", "config/config_train.json: train.pre_transforms[7].path", "MONAI 0.8's numpy arrays"),
])
def test_what_cannot_be_a_bundle_is_refused_and_nothing_written(conversions, name: str, where: str, why: str) -> None:  # type: ignore[no-untyped-def]
    case = conversions(name)
    assert_bad_input(case.result, where, "cannot be expressed as a MONAI bundle", why)
    assert not case.bundle.exists()
    assert not [p for p in case.bundle.parent.iterdir() if p.name.startswith(f".{case.bundle.name}")], "a staging folder was left"


def test_the_converted_evaluate_json_reads_the_bundles_weights_and_gives_the_mmars_metrics(conversions) -> None:  # type: ignore[no-untyped-def]
    demo = conversions("spleen_ct_seg")
    assert demo.bundle_digest() == demo.mmar_digest()
    by_mmar = invoke("validate", str(demo.mmar), "--set", *demo.sets, "dont_load_ts_model=True", "dont_load_ckpt_model=False")
    assert by_mmar.exit_code == 0, by_mmar.stderr[-3000:]
    by_bundle = invoke("validate", str(demo.bundle))
    assert by_bundle.exit_code == 0, by_bundle.stderr[-3000:]
    mmar_record = json.loads((demo.mmar / "eval" / "validate_manifest.json").read_text())
    bundle_record = json.loads((demo.bundle / "eval" / "validate_manifest.json").read_text())
    assert bundle_record["model"]["weights_digest"] == mmar_record["model"]["weights_digest"]
    assert bundle_record["metrics"] == mmar_record["metrics"] and "val_mean_dice" in bundle_record["metrics"]


def test_custom_code_importing_removed_monai_names_is_rewritten_in_scripts(conversions) -> None:  # type: ignore[no-untyped-def]
    deepgrow = conversions("deepgrow_3d_40")
    assert deepgrow.result.exit_code == 0, deepgrow.result.stderr
    assert "scripts/deepgrow/handler.py: 1 import of removed MONAI names rewritten" in deepgrow.result.stdout.splitlines()
    handler = (deepgrow.bundle / "scripts" / "deepgrow" / "handler.py").read_text()
    assert "from monai.metrics import compute_dice as compute_meandice" in handler
    assert (deepgrow.mmar / "custom" / "deepgrow" / "handler.py").read_text() != handler, "the MMAR itself is left as it was"
