"""MMARs in the shapes NVIDIA published for Clara Train 4.0/4.1 check, train one epoch, validate and infer.

Each folder in tests/fixtures/clara_4x is our own MMAR reproducing the patterns of a family of
published ones (GettingStarted in both dialects, with and without AMP, SegResNet, BYOC network +
loss, BYOC numpy transform, deepgrow with a click iteration and a Clara-era stats handler, the
pathology WSI classifier, a federated-learning client, AutoML search spaces). Their
environment.json points into Clara's container (/claraDevDay/...), as the published ones do; the
tests pass DATA_ROOT and DATASET_JSON with --set, as Clara's train.sh did.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cli_helpers import invoke
from tests.integration.test_bad_input import assert_bad_input

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clara_4x"
SPLEEN = ["gs_unet_40", "gs_unet_41", "gs_unet_noamp_41", "gs_segresnet_41", "byoc_arch_loss_41", "byoc_transform_40", "byoc_transform_41",
          "deepgrow_3d_40", "fl_client_40", "automl_loss_optimizer_41", "automl_search_40"]
CONFIG = {"pathology_40": "config/config_train_smartcache.json"}


@pytest.fixture(scope="module")
def wsi_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256x256 RGB slide (tissue-like discs on a light background) and a Clara 4.x patch datalist, made deterministically."""
    import tifffile

    out = tmp_path_factory.mktemp("wsi")
    rng = np.random.default_rng(0)
    slide = np.full((256, 256, 3), 230, np.uint8)
    rows, cols = np.mgrid[:256, :256]
    for row, col, radius in [(80, 80, 40), (170, 150, 50), (60, 200, 30)]:
        slide[(rows - row) ** 2 + (cols - col) ** 2 < radius * radius] = (150, 60, 160)
    slide = (slide + rng.integers(0, 10, slide.shape)).clip(0, 255).astype(np.uint8)
    tifffile.imwrite(out / "slide.tiff", slide, photometric="rgb")

    def item(row: int, col: int) -> dict[str, Any]:
        return {"image": "slide.tiff", "location": [row, col], "label": [int(rng.integers(0, 2)) for _ in range(9)]}

    datalist = {"training": [item(80, 80), item(170, 150), item(128, 128), item(60, 200)], "validation": [item(100, 100), item(150, 160)]}
    (out / "datalist.json").write_text(json.dumps(datalist))
    return out


@pytest.fixture
def mmar(tmp_path: Path, synthetic_data: Path, wsi_data: Path):  # type: ignore[no-untyped-def]
    """``mmar(name)`` -> (a copy of the fixture, the --set words that point it at its data)."""

    def copy(name: str) -> tuple[Path, list[str]]:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        data = wsi_data if name == "pathology_40" else synthetic_data
        listing = "datalist.json" if name == "pathology_40" else "dataset.json"
        return root, [f"DATA_ROOT={data}", f"DATASET_JSON={data / listing}"]

    return copy


def run(command: str, root: Path, sets: list[str], *extra: str, config: str | None = None):  # type: ignore[no-untyped-def]
    args = [command, str(root), *(["-c", config] if config else []), *extra, "--set", *sets]
    return invoke(*args)


def manifest(folder: Path, name: str = "run_manifest.json") -> dict[str, Any]:
    return json.loads((folder / name).read_text())


def digest(stdout: str) -> str:
    return next(line.split()[-1] for line in stdout.splitlines() if line.startswith("weights:"))


@pytest.mark.parametrize("name", [*SPLEEN, "pathology_40"])
def test_each_mmar_checks_and_trains_one_epoch(mmar, name: str) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar(name)
    checked = run("check", root, sets, config=CONFIG.get(name))
    assert checked.exit_code == 0, checked.stderr[-3000:]
    assert checked.stdout.startswith(f"ok: {root}")
    trained = run("train", root, sets, "--no-progress", config=CONFIG.get(name))
    assert trained.exit_code == 0, trained.stderr[-3000:]
    record = manifest(root / "models")
    assert record["status"] == "completed" and record["epochs_completed"] == 1
    assert record["weights_digest"] == digest(trained.stdout)


def test_legacy_arguments_beside_their_replacements_warn_once_each(mmar) -> None:  # type: ignore[no-untyped-def]
    """The 4.1 GettingStarted shape: AsDiscreted(to_onehot=2, n_classes=2) in train, refs in validate, UNet(dimensions)."""
    root, sets = mmar("gs_unet_41")
    result = run("check", root, sets)
    assert result.exit_code == 0, result.stderr
    agreeing = [line for line in result.stderr.splitlines() if "they agree" in line]
    assert agreeing == ["warning: config/config_train.json: train.post_transforms[1].args.n_classes: 'n_classes' (2) is gone since MONAI "
                        "1.0.0 and is given together with its replacement 'to_onehot' (2); they agree, so 'n_classes' is ignored"]


def test_numpy_custom_transform_gets_numpy_and_the_switch_turns_it_off(mmar) -> None:  # type: ignore[no-untyped-def]
    for name in ("byoc_transform_40", "byoc_transform_41"):
        root, sets = mmar(name)
        trained = run("train", root, sets, "--no-progress")
        assert trained.exit_code == 0, trained.stderr[-3000:]
        supplied = manifest(root / "models")["runner_supplied"]
        assert supplied["train.pre_transforms[7]"] == "MyRandAdditiveNoised gets numpy arrays, as in MONAI 0.8 (legacy_custom_transforms)"
    off = run("train", root, [*sets, "legacy_custom_transforms=false"], "--no-progress")
    assert off.exit_code == 2, "a transform that fails on a case stops the run as bad input, naming the case"
    assert re.search(r"dataset\.json: training\[\d\] \(.*\): MyRandAdditiveNoised \(", off.stderr), off.stderr[-1500:]
    assert "custom/myTransformation.py, line 20): TypeError: Cannot interpret 'torch.float32' as a data type" in off.stderr
    assert "Traceback" not in off.stderr.splitlines()[-1]


def test_deepgrow_handler_importing_removed_names_runs_with_one_warning(mmar) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("deepgrow_3d_40")
    result = run("train", root, sets, "--no-progress")
    assert result.exit_code == 0, result.stderr[-3000:]
    shim = [line for line in result.stderr.splitlines() if "compute_meandice is gone" in line]
    assert shim == ["warning: custom/deepgrow/handler.py, line 7: monai.metrics.compute_meandice is gone since MONAI 1.2.0; using "
                    "monai.metrics.compute_dice (same arguments (y_pred, y, include_background); NaN for an empty ground truth, as before)"]
    assert "val_dice: " in result.stderr and "over 2 batches" in result.stderr, "the Clara-era handler read the batch and output by key"
    assert sum("batched=...) is gone since MONAI 0.6.0" in line for line in result.stderr.splitlines()) == 6, "the nested click transforms"


def test_a_removed_name_without_successor_is_bad_input_naming_the_release(mmar) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("deepgrow_3d_40")
    handler = root / "custom" / "deepgrow" / "handler.py"
    handler.write_text(handler.read_text().replace("import torch\n", "import torch\nfrom monai.utils import resolve_name\n"))
    assert_bad_input(run("check", root, sets), "custom/deepgrow/handler.py: line 6: monai.utils.resolve_name was removed in MONAI 1.4.0 "
                                                "and has no successor")


def test_migrate_rewrites_custom_imports_and_the_copy_trains_the_same_weights(mmar, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("deepgrow_3d_40")
    before = run("train", root, sets, "--no-progress")
    assert before.exit_code == 0, before.stderr[-3000:]
    migrated = invoke("migrate", str(root), "--out", str(tmp_path / "modern"))
    assert migrated.exit_code == 0, migrated.stderr
    assert ("custom/deepgrow/handler.py: 1 import rewritten\n  line 7: from monai.metrics import compute_meandice -> "
            "from monai.metrics import compute_dice as compute_meandice") in migrated.stdout
    after = run("train", tmp_path / "modern", sets, "--no-progress")
    assert after.exit_code == 0, after.stderr[-3000:]
    assert "is gone since MONAI" not in after.stderr
    assert digest(after.stdout) == digest(before.stdout)


def test_persistent_dataset_gets_a_cache_folder_under_the_outputs_or_where_set(mmar, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("deepgrow_3d_40")
    assert run("train", root, sets, "--no-progress").exit_code == 0
    supplied = manifest(root / "models")["runner_supplied"]
    assert supplied["train.dataset.args.cache_dir"] == str(root / "models" / "cache" / "train")
    assert any((root / "models" / "cache" / "train").iterdir())
    elsewhere = tmp_path / "cache"
    assert run("train", root, [*sets, f"MMAR_CACHE_DIR={elsewhere}"], "--no-progress").exit_code == 0
    assert manifest(root / "models")["runner_supplied"]["validate.dataset.args.cache_dir"] == str(elsewhere / "validate")


def test_automl_trains_the_first_point_and_set_picks_another(mmar) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("automl_loss_optimizer_41")
    first = run("train", root, sets, "--no-progress")
    assert first.exit_code == 0, first.stderr[-3000:]
    point = manifest(root / "models")["search_point"]
    assert point == ("mySearchLoss1=True; mySearchLoss2=False; mySearchOptimizer1=True; mySearchOptimizer2=False; "
                     "train.loss=FocalLoss; train.optimizer=Novograd"), "slots in the order the config gives them"
    assert "AutoML search space: training the point" in first.stderr
    other = run("train", root, [*sets, "mySearchLoss1=false", "mySearchLoss2=true"], "--no-progress")
    assert other.exit_code == 0, other.stderr[-3000:]
    assert "train.loss=DiceLoss" in manifest(root / "models")["search_point"]
    assert digest(other.stdout) != digest(first.stdout)
    assert_bad_input(run("check", root, [*sets, "mySearchLoss1=false"]),
                     "search[0]: mySearchLoss1, mySearchLoss2 = False, False is not a point of this search dimension",
                     "hint: its points: mySearchLoss1=True, mySearchLoss2=False | mySearchLoss1=False, mySearchLoss2=True")


def test_automl_component_searches_become_variables(mmar) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("automl_search_40")
    checked = run("check", root, sets)
    assert checked.exit_code == 0, checked.stderr
    assert ("search point: learning_rate=0.0001; myTransformDisable=True; StepLR_step_size=5000; StepLR_gamma=0.1; UNet_channels=[4, 8, 16]; "
            "UNet_norm='batch'; myProb=0.0; RandScaleIntensityd_disabled=True") in checked.stdout
    picked = run("check", root, [*sets, "UNet_channels=[8,16,32]", "learning_rate=5e-4", "myProb=0.3"])
    assert picked.exit_code == 0, picked.stderr
    assert "UNet_channels=[8, 16, 32]" in picked.stdout and "learning_rate=0.0005" in picked.stdout
    assert_bad_input(run("check", root, [*sets, "learning_rate=0.5"]), "learning_rate = 0.5 is outside the search range [0.0001, 0.001]")


def test_fl_server_and_client_configs_say_what_runs_them(mmar) -> None:  # type: ignore[no-untyped-def]
    root, sets = mmar("fl_client_40")
    assert_bad_input(run("check", root, sets, config="config/config_fed_client.json"),
                     "config/config_fed_client.json: a federated-learning client config (NVIDIA FLARE runs the client",
                     "hint: mmar train MMAR trains the client's config_train.json itself")


@pytest.mark.parametrize("name", ["gs_unet_40", "gs_unet_41", "fl_client_40", "pathology_40"])
def test_validation_and_inference_configs_run_after_train_and_export(mmar, name: str) -> None:  # type: ignore[no-untyped-def]
    """As the GettingStarted notebook: train, export to TorchScript, validate with it and with the checkpoint, infer."""
    root, sets = mmar(name)
    config = CONFIG.get(name)
    trained = run("train", root, sets, "--no-progress", config=config)
    assert trained.exit_code == 0, trained.stderr[-3000:]
    exported = invoke("export", str(root), *(["-c", config] if config else []))
    assert exported.exit_code == 0, exported.stderr[-3000:]
    scores = []
    for switch in ([], ["dont_load_ts_model=True", "dont_load_ckpt_model=False"]):
        validated = run("validate", root, [*sets, *switch])
        assert validated.exit_code == 0, validated.stderr[-3000:]
        record = manifest(root / "eval", "validate_manifest.json")
        assert record["model"]["weights_digest"] == digest(trained.stdout), "the weights that were validated are the trained ones"
        scores.append(record["metrics"])
    assert scores[0] == scores[1], "TorchScript and checkpoint give the same metrics"
    if (root / "config" / "config_inference.json").is_file():
        inferred = run("infer", root, sets)
        assert inferred.exit_code == 0, inferred.stderr[-3000:]
        assert len(list((root / "eval").rglob("*_trans.nii.gz"))) == 2, "one prediction per test case"
