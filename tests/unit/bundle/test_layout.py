"""Layout detection: MMAR, bundle, or neither with what is missing named (no MONAI import needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.bundle.layout import Kind, detect_layout, looks_like_bundle
from runner.errors import MmarLayoutError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bundles"


def touch(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}")
    return root


@pytest.mark.parametrize("name", ["seg3d_glob", "seg3d_datalist", "cls2d", "seg3d_scripts"])
def test_fixture_bundles_are_bundles(name: str) -> None:
    layout = detect_layout(FIXTURES / name)
    assert layout.kind is Kind.BUNDLE
    assert layout.train_config == FIXTURES / name / "configs" / "train.json"


def test_yaml_train_config_makes_a_bundle(tmp_path: Path) -> None:
    touch(tmp_path, "configs/metadata.json", "configs/train.yaml")
    assert detect_layout(tmp_path).train_config == tmp_path / "configs" / "train.yaml"


def test_mmar_is_an_mmar_even_with_a_configs_folder(tmp_path: Path) -> None:
    touch(tmp_path, "config/config_train.json", "configs/metadata.json", "configs/train.json")
    assert detect_layout(tmp_path).kind is Kind.MMAR
    assert not looks_like_bundle(tmp_path)


def test_neither_names_what_is_missing(tmp_path: Path) -> None:
    touch(tmp_path, "configs/train.json")
    with pytest.raises(MmarLayoutError) as caught:
        detect_layout(tmp_path)
    message = caught.value.message
    assert "neither an MMAR nor a MONAI bundle" in message
    assert "config/config_train.json" in message and "configs/metadata.json" in message
    assert "configs/train.json (or train.yaml)" not in message  # it is there


def test_empty_folder_misses_both_bundle_files(tmp_path: Path) -> None:
    with pytest.raises(MmarLayoutError, match=r"no configs/metadata.json and no configs/train.json"):
        detect_layout(tmp_path)


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(MmarLayoutError, match="folder not found"):
        detect_layout(tmp_path / "nowhere")
    touch(tmp_path, "file.json")
    with pytest.raises(MmarLayoutError, match="not a folder"):
        detect_layout(tmp_path / "file.json")
