"""scripts/mmar_pins.py repeats the runner's pins; metadata.json has MONAI's mandatory fields; a refusal writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.convert import bundle_pins
from runner.convert.write import convert_mmar
from runner.errors import MmarRunnerError

REPO = Path(__file__).resolve().parents[3]


def test_derived_seeds_are_the_runners() -> None:
    from runner.determinism import derive_seed

    for seed, label in [(0, "train.dataloader"), (7, "validate.dataset.transforms"), (2**31, "train.sampler")]:
        assert bundle_pins.derive_seed(seed, label) == derive_seed(seed, label)


def test_randomizables_get_the_runners_seeds_in_the_runners_order() -> None:
    from monai.transforms import Compose, RandCropByPosNegLabeld, RandFlipd, RandShiftIntensityd

    from runner.determinism import seed_randomizables

    def pipeline() -> Compose:
        return Compose([RandShiftIntensityd("image", offsets=0.1, prob=0.5), RandFlipd("image", prob=0.5),
                        RandCropByPosNegLabeld(["image"], "label", [4, 4, 4], num_samples=2)])

    ours, theirs = pipeline(), pipeline()
    assert bundle_pins.seed_randomizables(ours, 11) == seed_randomizables(theirs, 11) == 6
    draws = [t.R.randint(0, 2**31) for t in bundle_pins.iter_randomizables(ours)]
    assert draws == [t.R.randint(0, 2**31) for t in bundle_pins.iter_randomizables(theirs)]


def test_pin_sets_what_apply_determinism_sets() -> None:
    import random

    import numpy as np
    import torch

    from runner.determinism import DeterminismSettings, apply_determinism

    apply_determinism(DeterminismSettings(seed=5))
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    bundle_pins.pin(5)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark


def test_batched_view_answers_keys_like_the_runners() -> None:
    import torch

    from runner.legacy.batched_output import BatchedView

    items = [{"loss": torch.tensor(0.5), "pred": torch.ones(2)}, {"loss": torch.tensor(0.5), "pred": torch.zeros(2)}]
    ours, theirs = bundle_pins.BatchedView(items), BatchedView(items)
    assert ours["loss"] == theirs["loss"] == 0.5
    assert torch.equal(ours["pred"], theirs["pred"]) and ours.keys() == theirs.keys() == ["loss", "pred"]


def test_legacy_event_hook_makes_the_class_the_runner_makes() -> None:
    import inspect

    from monai.engines import SupervisedTrainer

    from tests.unit.components.test_contracts import Extra, LegacyTrainer, OnDone, tiny_trainer_args

    cls = bundle_pins.legacy_event_hook(LegacyTrainer)
    handler = OnDone()
    trainer = cls(**tiny_trainer_args(), train_handlers=[handler])
    trainer.fire_event(Extra.DONE)
    assert handler.calls == 1 and isinstance(trainer, LegacyTrainer)
    assert (cls.__name__, cls.__module__) == ("LegacyTrainer", LegacyTrainer.__module__)
    assert inspect.signature(cls) == inspect.signature(LegacyTrainer)
    located = bundle_pins.legacy_event_hook(f"{LegacyTrainer.__module__}.LegacyTrainer")
    assert Extra.DONE in located(**tiny_trainer_args())._allowed_events
    assert bundle_pins.legacy_event_hook(SupervisedTrainer) is SupervisedTrainer
    with pytest.raises(ImportError, match="no_such_module"):
        bundle_pins.legacy_event_hook("no_such_module.Trainer")


def test_the_pins_module_imports_nothing_of_the_runner() -> None:
    source = Path(bundle_pins.__file__).read_text()
    assert "runner" not in "".join(line for line in source.splitlines() if line.lstrip().startswith(("import", "from")))


def copy_demo(tmp_path: Path, synthetic_data: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "spleen_ct_seg"
    shutil.copytree(REPO / "bundles" / "spleen_ct_seg", root, ignore=shutil.ignore_patterns("data", "*.pt", "__pycache__"))
    return root, [f"DATA_ROOT={synthetic_data}", f"DATASET_JSON={synthetic_data / 'dataset.json'}"]


def test_metadata_has_monais_mandatory_fields_and_our_versions(tmp_path: Path, synthetic_data: Path) -> None:
    from importlib.metadata import version

    from runner.bundle.metadata import check_metadata

    root, sets = copy_demo(tmp_path, synthetic_data)
    result = convert_mmar(root, tmp_path / "out", sets=sets)
    meta = json.loads((result.target / "configs" / "metadata.json").read_text())
    assert check_metadata(meta, "configs/metadata.json") == []
    assert meta["version"] == "0.1.0" and meta["name"] == "spleen_ct_seg"
    assert meta["monai_version"] == version("monai") and meta["pytorch_version"] == version("torch")
    assert meta["numpy_version"] == version("numpy")
    assert meta["required_packages_version"] == {"pytorch-ignite": version("pytorch-ignite")}
    assert meta["network_data_format"]["inputs"]["image"]["num_channels"] == 1
    assert meta["network_data_format"]["outputs"]["pred"]["num_channels"] == 2
    assert (result.target / "scripts" / "mmar_pins.py").read_text() == Path(bundle_pins.__file__).read_text()
    assert "configs/train.json" in result.written and "scripts/__init__.py" in result.written
    assert (result.target / "configs" / "logging.conf").read_text() == (root / "resources" / "log.config").read_text()
    evaluate = json.loads((result.target / "configs" / "evaluate.json").read_text())
    assert evaluate["validate"]["handlers"][0] == {"_target_": "CheckpointLoader", "load_path": "$@ckpt_dir + '/model.pt'",
                                                   "load_dict": {"model": "@network"}, "map_location": "@device"}
    assert evaluate["run"][-1] == "$@validate#evaluator.run()" and evaluate["output_dir"] == "$@bundle_root + '/eval'"
    metrics_saver = next(h for h in evaluate["validate"]["handlers"] if h["_target_"] == "MetricsSaver")
    assert metrics_saver["save_dir"] == "@output_dir"
    inference = json.loads((result.target / "configs" / "inference.json").read_text())
    assert inference["evaluator"]["_target_"] == "SupervisedEvaluator" and inference["run"][-1] == "$@evaluator.run()"
    assert inference["network_def"] == json.loads((result.target / "configs" / "train.json").read_text())["network_def"]


def test_a_refusal_writes_nothing_and_an_existing_out_needs_force(tmp_path: Path, synthetic_data: Path) -> None:
    root = tmp_path / "byow"
    shutil.copytree(REPO / "bundles" / "byow_trainer", root, ignore=shutil.ignore_patterns("data", "__pycache__"))
    with pytest.raises(MmarRunnerError, match="bring-your-own trainer"):
        convert_mmar(root, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["byow"], "no bundle, no staging folder"
    demo, sets = copy_demo(tmp_path, synthetic_data)
    (tmp_path / "taken").mkdir()
    with pytest.raises(MmarRunnerError, match="already exists"):
        convert_mmar(demo, tmp_path / "taken", sets=sets)
    assert convert_mmar(demo, tmp_path / "taken", sets=sets, force=True).target.joinpath("configs", "train.json").is_file()
    with pytest.raises(MmarRunnerError, match="outside the MMAR"):
        convert_mmar(demo, demo / "bundle", sets=sets)


def test_custom_modules_that_import_each_other_top_level_still_import(make_mmar, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sys

    from monai.bundle import ConfigParser

    def my_loss(config: dict) -> None:
        config["train"]["loss"] = {"path": "my_loss.MyLoss", "args": {"to_onehot_y": True, "softmax": True}}

    custom = {"helper.py": "SMOOTH = 1e-4\n",
              "my_loss.py": "import helper\nfrom monai.losses import DiceLoss\n\n\nclass MyLoss(DiceLoss):\n"
                            "    def __init__(self, **kwargs):\n        super().__init__(smooth_nr=helper.SMOOTH, **kwargs)\n"}
    result = convert_mmar(make_mmar(edit=my_loss, custom=custom), tmp_path / "bundle")
    train = json.loads((result.target / "configs" / "train.json").read_text())
    assert train["loss"]["_target_"] == "scripts.my_loss.MyLoss"
    assert train["initialize"][0] == "$scripts.mmar_pins.on_path(@bundle_root + '/scripts')"
    sys.path.insert(0, str(result.target))
    try:
        parser = ConfigParser(train)
        parser["bundle_root"] = str(result.target)
        parser.parse()
        parser.get_parsed_content("initialize#0")
        assert parser.get_parsed_content("loss").smooth_nr == 1e-4
    finally:
        for name in [n for n in sys.modules if n in ("helper", "my_loss", "scripts") or n.startswith("scripts.")]:
            del sys.modules[name]
