"""``mmar check BUNDLE``: real MONAI parsing of our fixture bundles, and hostile variants made here.

Each hostile variant breaks one thing and asserts the FILE: ID: message it must produce; one
test breaks many at once and wants them all in one report. Nothing in a bundle may run during
a check: a ``$`` expression and a scripts/ module that would write a file are planted, and the
file must not exist afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.bundle.check import check_bundle
from runner.errors import ConfigError, ConfigIssue
from tests.cli_helpers import invoke

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
TRAIN = "configs/train.json"
META = "configs/metadata.json"

Edit = Callable[[dict[str, Any]], None]


def make_bundle(tmp_path: Path, name: str = "seg3d_glob", train: Edit | None = None, meta: Edit | None = None) -> Path:
    """A copy of a fixture bundle with ``train``/``meta`` applied to its train.json / metadata.json."""
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    for file, edit in ((TRAIN, train), (META, meta)):
        if edit is not None:
            content = json.loads((root / file).read_text())
            edit(content)
            (root / file).write_text(json.dumps(content, indent=2))
    return root


def errors_of(root: Path, configs: str | None = None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        check_bundle(root, configs)
    return [i for i in caught.value.issues if i.severity == "error"]


def only_error(root: Path) -> ConfigIssue:
    found = errors_of(root)
    assert len(found) == 1, [i.render() for i in found]
    return found[0]


@pytest.mark.parametrize("name", ["seg3d_glob", "seg3d_datalist", "cls2d", "seg3d_scripts"])
def test_fixture_bundles_pass(name: str) -> None:
    result = check_bundle(FIXTURES / name)
    assert [w.render() for w in result.warnings] == []
    assert result.bundle.config["_meta_"]["version"] == "0.1.0"


def test_unknown_target_names_the_closest_known(tmp_path: Path) -> None:
    issue = only_error(make_bundle(tmp_path, train=lambda c: c["network_def"].update({"_target_": "UNett"})))
    assert (issue.file, issue.path) == (TRAIN, "network_def#_target_")
    assert "unknown _target_ 'UNett'" in issue.message and "UNet" in (issue.hint or "")


def test_builtin_short_names_are_found_as_monai_finds_them(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["as_dict"] = {"_target_": "dict", "a": 1}  # MONAI's pydoc.locate finds builtins
        config["as_sorted"] = {"_target_": "sorted", "_mode_": "callable", "reverse": True}

    result = check_bundle(make_bundle(tmp_path, train=edit))
    assert [w.render() for w in result.warnings] == []


def test_unknown_dotted_target(tmp_path: Path) -> None:
    issue = only_error(make_bundle(tmp_path, train=lambda c: c["optimizer"].update({"_target_": "torch.optim.Adamm"})))
    assert issue.path == "optimizer#_target_" and "torch.optim has no Adamm" in issue.message
    assert "torch.optim.Adam" in (issue.hint or "")


def test_argument_the_signature_does_not_accept(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["network_def"]["chanels"] = config["network_def"].pop("channels")

    found = errors_of(make_bundle(tmp_path, train=edit))
    assert {(i.path, i.file) for i in found} == {("network_def#chanels", TRAIN), ("network_def", TRAIN)}
    unknown = next(i for i in found if i.path.endswith("chanels"))
    assert "UNet does not accept argument 'chanels' (did you mean 'channels'?)" in unknown.message
    missing = next(i for i in found if i.path == "network_def")
    assert "UNet needs argument 'channels', which is not given" in missing.message


def test_partial_mode_needs_no_required_argument(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["loss_factory"] = {"_target_": "torch.optim.Adam", "_mode_": "callable", "lr": 0.1}
        config["no_params"] = {"_target_": "torch.optim.Adam", "lr": 0.1}

    issue = only_error(make_bundle(tmp_path, train=edit))
    assert issue.path == "no_params" and "needs argument 'params'" in issue.message


def test_missing_reference_suggests_an_id(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["trainer"]["network"] = "@netwrk"
        config["train"]["dataloader"]["batch_size"] = "$@train#batchsize * 2"

    found = {i.path: i for i in errors_of(make_bundle(tmp_path, train=edit))}
    assert set(found) == {"train#trainer#network", "train#dataloader#batch_size"}
    assert "reference @netwrk: no item has that id" in found["train#trainer#network"].message
    assert "@network" in (found["train#trainer#network"].hint or "")
    assert "@train#batchsize" in found["train#dataloader#batch_size"].message


def test_legacy_and_relative_separators(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["dataloader"]["dataset"] = "@train::dataset"  # MONAI 1.6's own separator
        config["train"]["dataloader"]["num_workers"] = "@##trainer#max_epochs"  # relative: train#trainer#...
        config["train"]["dataloader"]["batch_size"] = "@##nothing"

    issue = only_error(make_bundle(tmp_path, train=edit))
    assert issue.path == "train#dataloader#batch_size" and "@train#nothing" in issue.message


def test_invalid_python_in_dollar_string(tmp_path: Path) -> None:
    issue = only_error(make_bundle(tmp_path, train=lambda c: c.update({"network": "$@network_def.to(@device"})))
    assert issue.path == "network" and "is not valid Python" in issue.message


def test_import_of_a_module_that_is_not_installed(tmp_path: Path) -> None:
    issue = only_error(make_bundle(tmp_path, train=lambda c: c["imports"].append("$import no_such_module_here")))
    assert issue.path == "imports#2" and "no module named no_such_module_here" in issue.message


def test_import_of_a_scripts_module_by_its_bare_name(tmp_path: Path) -> None:
    root = make_bundle(tmp_path, name="seg3d_scripts", train=lambda c: c["imports"].append("$from net import TinySegNet"))
    issue = only_error(root)
    assert issue.path == "imports#3" and "no module named net is installed" in issue.message
    assert issue.hint == "scripts/net is in the bundle: import it as scripts.net"


def test_macros_to_missing_files_and_ids(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["validate"]["inferer"] = "%configs/common.json#inferer"
        config["validate"]["postprocessing"] = "%configs/extra.json#postprocessing"
        config["validate"]["preprocessing"]["transforms"] = "%train#deterministic_transform"

    root = make_bundle(tmp_path, train=edit)
    (root / "configs" / "extra.json").write_text(json.dumps({"post": {}}))
    found = {i.path: i.message for i in errors_of(root)}
    assert "file configs/common.json not found" in found["validate#inferer"]
    assert "configs/extra.json has no item postprocessing" in found["validate#postprocessing"]
    assert "macro %train#deterministic_transform: no item" in found["validate#preprocessing#transforms"]
    assert len(found) == 3


def test_metadata_required_fields(tmp_path: Path) -> None:
    def edit(meta: dict[str, Any]) -> None:
        for name in ("version", "authors", "required_packages_version"):
            del meta[name]
        meta["monai_version"] = 1.6
        del meta["network_data_format"]["outputs"]

    found = {i.path: i for i in errors_of(make_bundle(tmp_path, meta=edit))}
    assert set(found) == {"version", "authors", "required_packages_version", "monai_version",
                          "network_data_format#outputs"}
    assert all(i.file == META for i in found.values())


def test_older_packages_field_is_accepted(tmp_path: Path) -> None:
    def edit(meta: dict[str, Any]) -> None:
        meta["optional_packages_version"] = meta.pop("required_packages_version")

    check_bundle(make_bundle(tmp_path, meta=edit))


def test_glob_that_matches_nothing(tmp_path: Path) -> None:
    root = make_bundle(tmp_path)
    shutil.rmtree(root / "data" / "labelsTr")
    issue = only_error(root)
    assert issue.path == "labels" and "glob 'data/labelsTr/*.nii.gz' matches no files" in issue.message.replace(
        "./", "")


def test_glob_from_absolute_dataset_dir(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    issue = only_error(make_bundle(tmp_path, name="cls2d", train=lambda c: c.update({"dataset_dir": str(nowhere)})))
    assert issue.path == "images" and f"glob '{nowhere}/class*/*.png' matches no files" in issue.message


def test_glob_pattern_that_needs_running_is_not_checked(tmp_path: Path) -> None:
    edit: Edit = lambda c: c.update({"dataset_dir": "$os.environ.get('DATA', '/data')"})  # noqa: E731
    result = check_bundle(make_bundle(tmp_path, train=edit))
    assert {w.path for w in result.warnings} == {"images", "labels"}
    assert all("not checked" in w.message for w in result.warnings)


def test_datalist_missing_and_listing_missing_files(tmp_path: Path) -> None:
    root = make_bundle(tmp_path, name="seg3d_datalist")
    (root / "data" / "imagesTr" / "case01.nii.gz").unlink()
    issue = only_error(root)
    assert issue.path == "train_datalist" and "1 listed file not found" in issue.message
    assert "imagesTr/case01.nii.gz" in issue.message
    (root / "data" / "dataset.json").unlink()
    found = {i.path: i.message for i in errors_of(root)}
    assert set(found) == {"train_datalist", "val_datalist"}
    assert all("dataset.json not found" in m for m in found.values())


def test_datalist_key_missing(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["val_datalist"] = config["val_datalist"].replace("'validation'", "'valid'")

    issue = only_error(make_bundle(tmp_path, name="seg3d_datalist", train=edit))
    assert issue.path == "val_datalist" and "has no list under 'valid'" in issue.message


def test_scripts_targets_are_read_not_imported(tmp_path: Path) -> None:
    planted = tmp_path / "IMPORTED"
    root = make_bundle(tmp_path, name="seg3d_scripts",
                       train=lambda c: c["network_def"].update({"feature": 4, "_target_": "scripts.net.TinySegNet"}))
    net = root / "scripts" / "net.py"
    net.write_text(f"open({str(planted)!r}, 'w').close()\n" + net.read_text())
    issue = only_error(root)
    assert issue.path == "network_def#feature" and "TinySegNet does not accept argument 'feature'" in issue.message
    assert not planted.exists()


def test_scripts_target_missing_class(tmp_path: Path) -> None:
    root = make_bundle(tmp_path, name="seg3d_scripts",
                       train=lambda c: c["network_def"].update({"_target_": "scripts.net.TinyNet"}))
    issue = only_error(root)
    assert issue.path == "network_def#_target_" and "scripts/net.py defines no class or function TinyNet" in issue.message


def test_nothing_runs_during_check(tmp_path: Path) -> None:
    pwned = tmp_path / "PWNED"

    def edit(config: dict[str, Any]) -> None:
        config["initialize"].append(f"$open({str(pwned)!r}, 'w')")
        config["imports"].append("$import os")
        config["side"] = f"$os.system('touch {pwned}')"
        config["network_def"]["channels"] = f"$[4, 8, len(open({str(pwned)!r}, 'w').name)]"
        config["via_target"] = {"_target_": "builtins.open", "file": str(pwned), "mode": "w"}

    root = make_bundle(tmp_path, train=edit)
    check_bundle(root)
    result = invoke("check", str(root))
    assert result.exit_code == 0, result.stderr
    assert not pwned.exists()


def test_every_problem_in_one_report_through_the_cli(tmp_path: Path) -> None:
    pwned = tmp_path / "PWNED"

    def edit(config: dict[str, Any]) -> None:
        config["network_def"]["_target_"] = "UNett"
        config["loss"]["softmaks"] = True
        config["train"]["trainer"]["network"] = "@netwrk"
        config["network"] = "$@network_def.to(@device"
        config["validate"]["inferer"] = "%configs/common.json#inferer"
        config["dataset_dir"] = str(tmp_path / "nowhere")
        config["initialize"].append(f"$open({str(pwned)!r}, 'w')")
        config["side"] = {"_target_": "@loss"}  # not an error: a warning beside the errors

    root = make_bundle(tmp_path, train=edit, meta=lambda m: m.pop("copyright"))
    result = invoke("check", str(root))
    assert result.exit_code == 2, result.stdout
    stderr = result.stderr
    assert "Traceback" not in stderr
    for line in (f"{TRAIN}: network_def#_target_: unknown _target_ 'UNett'",
                 f"{TRAIN}: loss#softmaks: DiceLoss does not accept argument 'softmaks' (did you mean 'softmax'?)",
                 f"{TRAIN}: train#trainer#network: reference @netwrk: no item has that id",
                 f"{TRAIN}: network: '$@network_def.to(@device' is not valid Python",
                 f"{TRAIN}: validate#inferer: macro %configs/common.json#inferer: file configs/common.json not found",
                 f"{TRAIN}: images: glob '{tmp_path}/nowhere/imagesTr/*.nii.gz' matches no files",
                 f"{META}: copyright: required field missing"):
        assert line in stderr, f"{line!r} not in:\n{stderr}"
    assert "8 problems found" in stderr  # the seven above and the labels glob
    assert "warning: configs/train.json: side: _target_ '@loss' is known only when it runs" in stderr
    assert not pwned.exists()


def test_later_config_file_overrides_and_is_named(tmp_path: Path) -> None:
    root = make_bundle(tmp_path)
    (root / "configs" / "evaluate.json").write_text(json.dumps({
        "validate#dataloader#batch_size": 2,
        "evaluating": ["$@validate#evaluatr.run()"],
    }))
    issue = only_error_for(root, "configs/train.json,configs/evaluate.json")
    assert (issue.file, issue.path) == ("configs/evaluate.json", "evaluating#0")
    assert "@validate#evaluatr" in issue.message


def only_error_for(root: Path, configs: str) -> ConfigIssue:
    found = errors_of(root, configs)
    assert len(found) == 1, [i.render() for i in found]
    return found[0]


def test_cli_ok_line_and_other_commands_refuse_bundles(tmp_path: Path) -> None:
    result = invoke("check", str(FIXTURES / "cls2d"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: ") and "MONAI bundle" in result.stdout and "nothing was run" in result.stdout
    for command in (["finetune"], ["export"], ["migrate"]):
        refused = invoke(*command, str(FIXTURES / "cls2d"))
        assert refused.exit_code == 2, (command, refused.stdout, refused.stderr)
        assert "a MONAI bundle (configs/); this command does not take bundles: " in refused.stderr
        assert "check, train, verify, validate, infer, diff, show, build and k8s do" in refused.stderr
    no_environment = invoke("check", str(FIXTURES / "cls2d"), "-e", "config/environment.json")
    assert no_environment.exit_code == 2 and "a MONAI bundle has no environment.json" in no_environment.stderr


@pytest.mark.parametrize("name", ["seg3d_glob", "seg3d_datalist", "cls2d", "seg3d_scripts"])
def test_check_data_opens_every_listed_file_of_the_fixtures(name: str) -> None:
    result = invoke("check", str(FIXTURES / name), "--data", "-v")
    assert result.exit_code == 0, result.stderr
    assert "data: " in result.stderr and "headers of " in result.stderr and " of 0 files" not in result.stderr


def _write_label(path: Path, values: Any) -> None:
    import nibabel
    import numpy as np

    nibabel.save(nibabel.Nifti1Image(np.asarray(values, dtype=np.float32), np.eye(4)), str(path))


def test_check_data_names_the_bad_files_of_a_datalist_and_of_a_glob(tmp_path: Path) -> None:
    """A label with values the network cannot predict, and a cut-short image: each named with its list, entry and file."""
    listed = make_bundle(tmp_path, "seg3d_datalist")
    entries = json.loads((listed / "data" / "dataset.json").read_text())["training"]
    label = listed / "data" / entries[1]["label"]
    shape = __import__("nibabel").load(str(label)).shape
    _write_label(label, __import__("numpy").full(shape, 7))
    image = listed / "data" / entries[0]["image"]
    image.write_bytes(image.read_bytes()[:-40])
    assert invoke("check", str(listed)).exit_code == 0  # only --data opens the files
    result = invoke("check", str(listed), "--data")
    assert result.exit_code == 2, result.stderr
    assert f"data/dataset.json: training[1]: {label}: label values 7 are outside the 2 classes" in result.stderr
    assert f"data/dataset.json: training[0]: {image}: cut short or damaged" in result.stderr

    globbed = make_bundle(tmp_path, "seg3d_glob")
    first_label = sorted((globbed / "data" / "labelsTr").glob("*.nii.gz"))[0]
    _write_label(first_label, __import__("numpy").full((4, 4, 4), 0.5))
    result = invoke("check", str(globbed), "--data")
    assert result.exit_code == 2, result.stderr
    assert f"configs/train.json: labels[0]: {first_label}: label values are not whole numbers (0.5)" in result.stderr


def test_check_takes_set_words_as_a_run_would(tmp_path: Path) -> None:
    """``--set`` reaches the check: an override that breaks a reference is reported; one that code would be is refused."""
    root = FIXTURES / "seg3d_glob"
    assert invoke("check", str(root), "--set", "train#dataloader#batch_size=1").exit_code == 0
    missing = invoke("check", str(root), "--set", f"dataset_dir={tmp_path / 'nowhere'}")
    assert missing.exit_code == 2 and "matches no files" in missing.stderr
    typo = invoke("check", str(root), "--set", "train#trainer#max_epoch=2")  # a new key of an item: its signature decides
    assert typo.exit_code == 2 and "does not accept argument 'max_epoch' (did you mean 'max_epochs'?)" in typo.stderr
    unknown = invoke("check", str(root), "--set", "trainr#max_epochs=2")
    assert unknown.exit_code == 2 and "--set: trainr#max_epochs: no item has that id" in unknown.stderr


def test_cli_neither_layout_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "train.json").write_text("{}")
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 2
    assert "neither an MMAR nor a MONAI bundle" in result.stderr and "no configs/metadata.json" in result.stderr


def test_yaml_bundle_is_read_and_named(tmp_path: Path) -> None:
    import yaml

    root = make_bundle(tmp_path)
    config = json.loads((root / TRAIN).read_text())
    (root / TRAIN).unlink()
    config["loss"]["softmaks"] = True
    (root / "configs" / "train.yaml").write_text(yaml.safe_dump(config))
    issue = only_error(root)
    assert (issue.file, issue.path) == ("configs/train.yaml", "loss#softmaks")


def test_duplicate_keys_are_errors_not_warnings(tmp_path: Path) -> None:
    root = make_bundle(tmp_path)
    text = (root / TRAIN).read_text()
    assert text.startswith("{") and '"bundle_root": "."' in text
    (root / TRAIN).write_text('{\n  "bundle_root": "/elsewhere",' + text[1:])  # MONAI keeps the later one, and warns
    issue = only_error(root)
    assert issue.file == TRAIN and "Duplicate key: `bundle_root`" in issue.message


def test_arguments_todays_monai_removed_are_rewritten_as_for_an_mmar(tmp_path: Path) -> None:
    """A 2024 zoo bundle passes SwinUNETR(img_size=...), gone since MONAI 1.5; older ones wrote UNet(dimensions=...)."""
    def edit(config: dict[str, Any]) -> None:
        config["network_def"]["dimensions"] = config["network_def"].pop("spatial_dims")
        config["spare_swin"] = {"_target_": "monai.networks.nets.SwinUNETR", "img_size": [32, 32, 32], "in_channels": 1,
                                "out_channels": 2, "feature_size": 12}

    result = check_bundle(make_bundle(tmp_path, train=edit))
    assert [f"{w.file}: {w.path}: {w.message}" for w in result.warnings] == [
        f"{TRAIN}: network_def#dimensions: UNet(dimensions=...) is gone since MONAI 1.2.0; running it as spatial_dims",
        f"{TRAIN}: spare_swin#img_size: SwinUNETR(img_size=...) is gone since MONAI 1.5.0; running it without",
    ]
    assert all(w.hint == "the bundle was written for an older MONAI; edit the config to silence this" for w in result.warnings)
    assert result.bundle.config["network_def"]["spatial_dims"] == 3 and "img_size" not in result.bundle.config["spare_swin"]
    assert [(e.item_id, e.old, e.new) for e in result.bundle.legacy] == [("network_def", "dimensions", "spatial_dims"),
                                                                          ("spare_swin", "img_size", None)]


def test_an_old_argument_beside_its_replacement_is_an_error(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["network_def"]["dimensions"] = 2

    error = only_error(make_bundle(tmp_path, train=edit))
    assert (error.file, error.path) == (TRAIN, "network_def#dimensions")
    assert "UNet is given both dimensions (renamed in MONAI) and spatial_dims; keep one" in error.message


def test_a_reader_whose_package_is_not_installed_is_named(tmp_path: Path) -> None:
    """The zoo's bundles read with ITKReader and do not all list itk: MONAI would fail at the first image."""
    assert importlib.util.find_spec("itk") is None, "this test needs an environment without itk (the lock has none)"

    def edit(config: dict[str, Any]) -> None:
        config["train"]["deterministic_transforms"][0]["reader"] = "ITKReader"

    error = only_error(make_bundle(tmp_path, train=edit))
    assert (error.file, error.path) == (TRAIN, "train#deterministic_transforms#0")
    assert error.message == ("ITKReader needs the package itk, which is not installed here; "
                             "metadata.json's required_packages_version does not list it either")
    assert error.hint == "pip install itk"

    def declare(meta: dict[str, Any]) -> None:
        meta["required_packages_version"]["itk"] = "5.4.0"

    declared = only_error(make_bundle(tmp_path / "declared", train=edit, meta=declare))
    assert declared.message == "ITKReader needs the package itk, which is not installed here"
