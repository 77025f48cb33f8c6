"""Bad input: exit code 2, the file and JSON path in one clear message, no traceback, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import invoke
from tests.conftest import run_cli

CONFIG = "config/config_train.json"


def assert_bad_input(result: Any, *fragments: str) -> str:
    text = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stdout, text)
    assert "Traceback" not in text and "Traceback" not in result.stdout
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    return text


def set_model(config: dict[str, Any], model: dict[str, Any]) -> None:
    config["train"]["model"] = model


def test_invalid_json_names_line_and_column(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config='{\n  "epochs": 2,\n  "train": {,\n}')
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: invalid JSON at line 3, column 13")


def test_duplicate_keys_are_rejected(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config='{"epochs": 1, "epochs": 2, "train": {}}')
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: epochs: duplicate key 'epochs' (line 1)")


def test_missing_train_section(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config={"epochs": 1, "determinism": {"random_seed": 0}})
    assert_bad_input(invoke("train", str(root)), f"{CONFIG}: no \"train\" section and no \"evaluator\": nothing here to build")


def test_seed_must_be_an_integer(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c.update(determinism={"random_seed": "abc"}))
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: determinism.random_seed: the seed must be an integer in [0, 2**32), got 'abc'")


def test_seed_from_set_is_checked_too(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar()
    assert_bad_input(invoke("check", str(root), "--set", "determinism.random_seed=-5"), "determinism.random_seed", "got -5")


def test_unknown_component_name_suggests_close_names(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: set_model(c, {"name": "UNett", "args": {}}))
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: train.model.name: unknown component name 'UNett'",
                     "closest known names: UNet")


def test_path_to_missing_module(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"].update(loss={"path": "my_losses.Dice"}))
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: train.loss.path: cannot import 'my_losses.Dice'", "custom/")


def test_path_to_missing_class_in_existing_custom_module(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"].update(loss={"path": "my_losses.Dyce"}),
                     custom={"my_losses.py": "class Dice:\n    pass\n"})
    assert_bad_input(invoke("check", str(root)), "train.loss.path: module 'my_losses' (", "custom/my_losses.py) has no attribute 'Dyce'",
                     "did you mean Dice?")


def test_custom_module_raising_on_import_shows_its_file_and_line(make_mmar: Callable[..., Path]) -> None:
    source = "import torch\n\nVALUE = 1\nraise RuntimeError('cannot start')\n"
    root = make_mmar(edit=lambda c: c["train"].update(loss={"path": "broken.Loss"}), custom={"broken.py": source})
    text = assert_bad_input(invoke("check", str(root)), "train.loss.path: importing module 'broken' failed",
                            "custom/broken.py, line 4", "RuntimeError: cannot start")
    assert str(root) in text


def test_custom_module_with_syntax_error(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"].update(loss={"path": "typo.Loss"}),
                     custom={"typo.py": "class Loss:\n    def __init__(self)\n        pass\n"})
    assert_bad_input(invoke("check", str(root)), "train.loss.path", "custom/typo.py, line 2", "SyntaxError")


def test_undefined_variable(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"]["optimizer"]["args"].update(lr="{learning_rat}"))
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: train.optimizer.args.lr: undefined variable {{learning_rat}}",
                     "did you mean {learning_rate}")


def test_reference_to_nothing(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"]["trainer"]["args"].update(inferer="@inferrer"))
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: train.trainer.args.inferer: @inferrer refers to nothing")


def test_reference_to_nothing_inside_expression(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"]["optimizer"]["args"].update(params="#@modle.parameters()"))
    assert_bad_input(invoke("check", str(root)), "train.optimizer.args.params: @modle refers to nothing")


def test_bad_python_in_expression(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"]["handlers"][4]["args"].update(output_transform="lambda x: x["))
    assert_bad_input(invoke("check", str(root)), "train.handlers[4].args.output_transform: invalid Python")


def test_args_the_signature_does_not_accept_are_caught_by_check(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"]["model"]["args"].update(num_res_unit=2))
    assert_bad_input(invoke("check", str(root)), f"{CONFIG}: train.model.args.num_res_unit: UNet does not accept argument 'num_res_unit'",
                     "did you mean num_res_units?")
    assert not (root / "models").exists()


def test_an_array_transform_given_keys_suggests_its_dictionary_form(make_mmar: Callable[..., Path]) -> None:
    """Issue 19 item 4: RandShiftIntensity with keys is RandShiftIntensityd with its d missing."""
    def edit(config: dict[str, Any]) -> None:
        config["train"]["pre_transforms"][6] = {"name": "RandShiftIntensity", "args": {"offsets": 0.1, "keys": "image", "prob": 0.5}}

    assert_bad_input(invoke("check", str(make_mmar(edit=edit))),
                     f"{CONFIG}: train.pre_transforms[6].args.keys: RandShiftIntensity does not accept argument 'keys'",
                     'its dictionary form takes keys: "name": "RandShiftIntensityd"')


def test_a_custom_transform_given_keys_gets_no_dictionary_suggestion(make_mmar: Callable[..., Path]) -> None:
    """Only MONAI's own array transforms have a dictionary form; a custom class of the same name is left alone."""
    def edit(config: dict[str, Any]) -> None:
        config["train"]["pre_transforms"][6] = {"path": "shift.RandShiftIntensity", "args": {"keys": "image"}}

    root = make_mmar(edit=edit, custom={"shift.py": "class RandShiftIntensity:\n    def __init__(self, offsets=0.1):\n"
                                                     "        pass\n\n    def __call__(self, data):\n        return data\n"})
    text = assert_bad_input(invoke("check", str(root)), "RandShiftIntensity does not accept argument 'keys'",
                            "RandShiftIntensity accepts: offsets")
    assert "RandShiftIntensityd" not in text


def test_missing_required_argument(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"]["model"]["args"].pop("out_channels"))
    assert_bad_input(invoke("check", str(root)), "train.model.args: UNet needs argument 'out_channels'")


def test_check_reports_every_error_in_one_pass(make_mmar: Callable[..., Path]) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["model"]["args"]["bogus"] = 1
        config["train"]["loss"] = {"name": "DiceLos"}
        config["validate"]["evaluator"]["args"]["inferer"] = "@nope"
        config["train"]["optimizer"]["args"]["lr"] = "{missing_var}"

    text = assert_bad_input(invoke("check", str(make_mmar(edit=edit))),
                            "train.model.args.bogus", "train.loss.name", "validate.evaluator.args.inferer", "{missing_var}")
    assert "problems found" in text


def test_datalist_key_and_files_are_checked(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = make_mmar(edit=lambda c: c["train"]["dataset"].update(data_list_key="trainin"))
    assert_bad_input(invoke("check", str(root)), "train.dataset.data_list_key")
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps({"training": [{"image": "nope/a.nii.gz", "label": "nope/b.nii.gz"}], "validation": []}))
    root = make_mmar(environment={"DATASET_JSON": str(listing), "DATA_ROOT": str(tmp_path)}, name="other")
    assert_bad_input(invoke("check", str(root)), "train.dataset.data_list_file_path", "training[0].image", "not found")


def test_failed_train_leaves_nothing_in_models(make_mmar: Callable[..., Path]) -> None:
    # The TensorBoard handler writes its event file when constructed; the handler after it fails.
    root = make_mmar(edit=lambda c: c["train"]["handlers"].append({"path": "boom.Boom"}),
                     custom={"boom.py": "class Boom:\n    def __init__(self):\n        raise ValueError('no')\n\n    def attach(self, engine):\n        pass\n"})
    result = invoke("train", str(root), "--set", "epochs=1", "num_workers=0")
    assert_bad_input(result, "train.handlers[6]: Boom(...) raised", "custom/boom.py, line 3", "ValueError: no")
    assert not (root / "models").exists()


def test_bad_set_word_and_missing_mmar(tmp_path: Path, make_mmar: Callable[..., Path]) -> None:
    assert_bad_input(invoke("check", str(make_mmar()), "--set", "=3"), "--set: =3: expected KEY=VALUE")
    assert_bad_input(invoke("check", str(tmp_path / "nowhere")), "MMAR folder not found")
    assert_bad_input(invoke("check", str(make_mmar()), "-c", "config/other.json"), "config file not found")


@pytest.mark.slow
def test_real_process_exit_code_and_no_traceback(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: c["train"].update(loss={"path": "broken.Loss"}),
                     custom={"broken.py": "x = 1\nraise ValueError('bad module')\n"})
    for command in ("check", "train"):
        done = run_cli(command, str(root))
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert "custom/broken.py, line 2" in done.stderr and "train.loss.path" in done.stderr
    assert not (root / "models").exists()


@pytest.mark.slow
def test_a_bad_resume_interval_stops_training_before_anything_is_written(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar()
    done = run_cli("train", str(root), env={"MMAR_RESUME_EVERY_S": "soon"})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "MMAR_RESUME_EVERY_S='soon' is not a number of seconds >= 0" in done.stderr
    assert not (root / "models").exists()


def test_set_cannot_reach_into_sections(make_mmar: Callable[..., Path]) -> None:
    assert_bad_input(invoke("check", str(make_mmar()), "--set", "train.trainer.args.max_epochs=3"),
                     "--set: train.trainer.args.max_epochs: --set changes variables, not the train/validate sections")


def test_set_of_an_unknown_variable_warns(make_mmar: Callable[..., Path]) -> None:
    result = invoke("check", str(make_mmar()), "--set", "epoch=2")
    assert result.exit_code == 0, result.stderr
    assert "warning: --set: epoch: no variable 'epoch' is defined or used" in result.stderr
    assert "did you mean epochs" in result.stderr


def test_environment_values_are_typed(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(environment={"DATA_ROOT": 5})
    assert_bad_input(invoke("check", str(root)), "config/environment.json: DATA_ROOT: Input should be a valid string, got 5")


def test_datalist_that_is_not_a_list_of_objects(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    listing = tmp_path / "odd.json"
    listing.write_text(json.dumps({"training": ["imagesTr/a.nii.gz"], "validation": []}))
    root = make_mmar(environment={"DATASET_JSON": str(listing)})
    assert_bad_input(invoke("check", str(root)), "train.dataset.data_list_file_path", "not a Decathlon-style list")


def test_missing_datalist_is_reported_at_its_path(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = make_mmar(environment={"DATASET_JSON": str(tmp_path / "nope.json")})
    text = assert_bad_input(invoke("check", str(root)), "train.dataset.data_list_file_path: datalist", "not found")
    assert "validate.dataset.data_list_file_path" in text


def test_model_that_is_not_a_module(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(edit=lambda c: set_model(c, {"path": "odd.NotANet"}), custom={"odd.py": "class NotANet:\n    pass\n"})
    assert_bad_input(invoke("train", str(root), "--set", "num_workers=0"), "train.model: NotANet is not a torch.nn.Module")


def test_ckpt_dir_that_is_a_file(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    root = make_mmar()
    assert_bad_input(invoke("check", str(root), "--set", f"MMAR_CKPT_DIR={blocker}"), "MMAR_CKPT_DIR", "is not a folder")
    assert blocker.read_text() == "x"
