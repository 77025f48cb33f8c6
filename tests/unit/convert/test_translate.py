"""Each kind of MMAR component as the bundle node mmar convert writes for it, wired as the runner's builder wires it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner.config.load import load_train_config
from runner.convert.components import Refusal, Translator
from runner.convert.refs import Ref, slot_id
from runner.convert.train_config import train_config
from runner.legacy.clara_code import mmar_code

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "clara_4x"


def converted(root: Path, *sets: str) -> dict[str, Any]:
    loaded = load_train_config(root, overrides=list(sets))
    with mmar_code(root):
        return train_config(loaded, Translator(loaded))


def fixture(tmp_path: Path, synthetic_data: Path, name: str, base: Path = FIXTURES) -> tuple[Path, list[str]]:
    root = tmp_path / name
    shutil.copytree(base / name, root, ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    return root, [f"DATA_ROOT={synthetic_data}", f"DATASET_JSON={synthetic_data / 'dataset.json'}"]


def test_slot_ids_are_the_ids_the_runner_reads_in_bundles() -> None:
    from runner.bundle.objects import SLOT_IDS

    for (section, slot), ids in SLOT_IDS.items():
        assert slot_id(section, slot) in ids, (section, slot)
    assert slot_id("validate", "pre_transforms") == "validate#preprocessing"
    assert slot_id("train", "post_transforms") == "train#postprocessing"


def test_41_references_and_expressions_become_bundle_ids(make_mmar) -> None:  # type: ignore[no-untyped-def]
    config = converted(make_mmar())
    assert config["network_def"]["_target_"] == "UNet" and config["network"] == "$@network_def.to(@device)"
    assert config["optimizer"] == {"_target_": "torch.optim.Adam", "params": "$@network.parameters()", "lr": 2e-4}
    assert config["lr_scheduler"]["optimizer"] == "@optimizer"
    handlers = {h["_target_"]: h for h in config["train"]["handlers"]}
    assert handlers["ValidationHandler"]["validator"] == "@validate#evaluator"
    assert handlers["LrScheduleHandler"]["lr_scheduler"] == "@lr_scheduler"
    assert handlers["StatsHandler"]["output_transform"] == "$monai.handlers.from_engine(['loss'], first=True)"
    assert "CheckpointLoader" not in handlers, "disabled by {dont_load_ckpt_model}: left out, as the runner leaves it out"
    assert config["validate"]["handlers"][0]["output_transform"] == "$lambda x: None"


def test_implicit_wiring_is_written_out(make_mmar) -> None:  # type: ignore[no-untyped-def]
    config = converted(make_mmar())
    train = config["train"]
    assert train["dataset"]["data"] == ("$monai.data.load_decathlon_datalist(@data_list_file_path, True, 'training', "
                                        "base_dir=@dataset_dir)")
    loader = train["dataloader"]
    assert loader["generator"] == "$scripts.mmar_pins.generator(@seed, 'train.dataloader')"
    assert loader["worker_init_fn"] == "$monai.data.utils.worker_init_fn"
    assert loader["sampler"] == "$scripts.mmar_pins.sampler(@train#dataset, @seed, 'train.sampler', True)"
    assert "shuffle" not in loader, "the runner moves shuffle into its seeded sampler"
    assert config["validate"]["dataloader"]["shuffle"] is False and "sampler" not in config["validate"]["dataloader"]
    trainer = train["trainer"]
    assert list(trainer)[:4] == ["_target_", "network", "loss_function", "optimizer"], "the model is built first"
    assert trainer["max_epochs"] == "@epochs" and trainer["amp"] == "@amp" and trainer["device"] == "@device"
    assert config["amp"] == "$torch.cuda.is_available()"
    load = train["preprocessing"]["transforms"][0]
    assert load == {"_target_": "LoadImaged", "keys": ["image", "label"], "image_only": False}, "MONAI 0.8's default"
    saver = next(h for h in train["handlers"] if h["_target_"] == "CheckpointSaver")
    assert saver["save_dir"] == "@ckpt_dir" and saver["save_dict"] == {"model": "@network", "optimizer": "@optimizer",
                                                                        "lr_scheduler": "@lr_scheduler"}


def test_validate_refs_are_fresh_copies_and_metrics_keyed_by_label(make_mmar) -> None:  # type: ignore[no-untyped-def]
    config = converted(make_mmar())
    train_names = [t["_target_"] for t in config["train"]["preprocessing"]["transforms"]]
    validate = config["validate"]["preprocessing"]["transforms"]
    assert [t["_target_"] for t in validate] == [n for n in train_names if not n.startswith("Rand")]
    assert validate[0] == config["train"]["preprocessing"]["transforms"][0]
    assert list(config["validate"]["key_metric"]) == ["val_mean_dice"]
    assert config["validate"]["evaluator"]["key_val_metric"] == "@validate#key_metric"


def test_40_implicit_dialect_gets_every_object_wired(tmp_path: Path, synthetic_data: Path) -> None:
    root, sets = fixture(tmp_path, synthetic_data, "gs_unet_40")
    config = converted(root, *sets)
    assert config["optimizer"]["params"] == "$@network.parameters()"
    assert config["lr_scheduler"]["optimizer"] == "@optimizer"
    assert config["train"]["dataset"]["transform"] == "@train#preprocessing"
    assert config["train"]["dataloader"]["dataset"] == "@train#dataset"
    trainer = config["train"]["trainer"]
    for name, ref in [("train_data_loader", "@train#dataloader"), ("network", "@network"), ("loss_function", "@loss"),
                      ("train_handlers", "@train#handlers"), ("postprocessing", "@train#postprocessing")]:
        assert trainer[name] == ref, name
    assert config["validate"]["evaluator"]["network"] == "@network"


def test_custom_components_are_named_in_scripts(tmp_path: Path, synthetic_data: Path) -> None:
    root, sets = fixture(tmp_path, synthetic_data, "byoc_add_noise", REPO / "bundles")
    config = converted(root, *sets)
    assert config["train"]["handlers"][0]["_target_"] == "scripts.add_noise.AddNoiseHandler"


def test_a_trainer_with_the_clara_event_hook_is_built_through_the_pins(tmp_path: Path, synthetic_data: Path) -> None:
    root, sets = fixture(tmp_path, synthetic_data, "byoc_custom_events", REPO / "bundles")
    trainer = converted(root, *sets)["train"]["trainer"]
    assert trainer["_target_"] == "$scripts.mmar_pins.legacy_event_hook('scripts.custom_trainer.CustomTrainer')"
    assert trainer["accumulation_steps"] == 3 and trainer["train_handlers"] == "@train#handlers"


@pytest.mark.parametrize(("name", "base", "where", "why"), [
    ("byow_trainer", REPO / "bundles", "train.trainer.path", "bring-your-own trainer"),
    ("byoc_transform_41", FIXTURES, "train.pre_transforms[7].path", "MONAI 0.8's numpy arrays"),
])
def test_what_a_bundle_cannot_express_is_refused_by_place(tmp_path: Path, synthetic_data: Path, name: str, base: Path,
                                                          where: str, why: str) -> None:
    root, sets = fixture(tmp_path, synthetic_data, name, base)
    with pytest.raises(Refusal) as raised:
        converted(root, *sets)
    assert raised.value.issue.path == where and raised.value.issue.file == "config/config_train.json"
    assert why in raised.value.message and "cannot be expressed as a MONAI bundle" in raised.value.message


def test_conf_in_an_expression_and_monai_syntax_in_a_string_are_refused(make_mmar) -> None:  # type: ignore[no-untyped-def]
    def conf_in_expression(config: dict[str, Any]) -> None:
        config["train"]["handlers"][4]["args"]["output_transform"] = "#(lambda x: @conf)"

    with pytest.raises(Refusal, match="@conf") as raised:
        converted(make_mmar(edit=conf_in_expression, name="conf"))
    assert raised.value.issue.path == "train.handlers[4].args.output_transform"

    def dollar(config: dict[str, Any]) -> None:
        config["train"]["handlers"][4]["args"]["tag_name"] = "$loss"

    with pytest.raises(Refusal, match="MONAI's parser"):
        converted(make_mmar(edit=dollar, name="dollar"))


def test_ref_parameters_is_an_expression() -> None:
    assert Ref("network").parameters().render() == "$@network.parameters()"


def test_environment_becomes_top_level_ids(make_mmar, synthetic_data: Path) -> None:  # type: ignore[no-untyped-def]
    config = converted(make_mmar())
    assert config["dataset_dir"] == str(synthetic_data)
    assert config["data_list_file_path"] == "$@dataset_dir + '/dataset.json'"
    assert config["ckpt_dir"] == "$@bundle_root + '/models'"
    assert config["seed"] == 0 and config["initialize"][0] == "$monai.utils.set_determinism(seed=@seed)"
    assert json.loads(json.dumps(config)) == config
