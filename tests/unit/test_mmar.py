from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import MmarLayoutError
from runner.mmar import custom_code_on_path, load_mmar


def test_custom_folder_is_importable_and_removed_afterwards(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(custom={"leaky_mod.py": "VALUE = 41\n", "pkg_x/__init__.py": "", "pkg_x/inner.py": "VALUE = 1\n"})
    with custom_code_on_path(root):
        assert importlib.import_module("leaky_mod").VALUE == 41
        assert importlib.import_module("pkg_x.inner").VALUE == 1
        assert str(root / "custom") in sys.path
    assert str(root / "custom") not in sys.path
    assert "leaky_mod" not in sys.modules and "pkg_x.inner" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("leaky_mod")


def test_two_mmars_with_the_same_module_name_do_not_see_each_other(make_mmar: Callable[..., Path]) -> None:
    first = make_mmar(custom={"my_model.py": "WHO = 'first'\n"}, name="one")
    second = make_mmar(custom={"my_model.py": "WHO = 'second'\n"}, name="two")
    for root, who in ((first, "first"), (second, "second")):
        with custom_code_on_path(root):
            assert importlib.import_module("my_model").WHO == who


def test_relative_config_paths_resolve_against_the_root(make_mmar: Callable[..., Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_mmar()
    monkeypatch.chdir(tmp_path)
    mmar = load_mmar(root, "config/config_train.json", "config/environment.json")
    assert mmar.config_file == root / "config" / "config_train.json"
    assert mmar.config_name == "config/config_train.json"


def test_layout_errors(tmp_path: Path, make_mmar: Callable[..., Path]) -> None:
    with pytest.raises(MmarLayoutError, match="not found"):
        load_mmar(tmp_path / "none")
    (tmp_path / "file").write_text("x")
    with pytest.raises(MmarLayoutError, match="not a folder"):
        load_mmar(tmp_path / "file")
    root = make_mmar(config="[1, 2]")
    with pytest.raises(MmarLayoutError, match="top level must be a JSON object"):
        load_mmar(root)
    with pytest.raises(MmarLayoutError, match="environment file not found"):
        load_mmar(make_mmar(name="x"), environment="config/nope.json")


def test_clara_argument_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.argv import expand_set_words

    monkeypatch.setenv("LOCAL_RANK", "placeholder")  # so monkeypatch restores the variable afterwards
    monkeypatch.delenv("LOCAL_RANK")
    words = ["train", "-m", "x", "--write_train_stats", "--set", "a=1", "b=[1, 2]", "-c", "c.json", "--local_rank=3"]
    assert expand_set_words(words) == ["train", "-m", "x", "--set", "a=1", "--set", "b=[1, 2]", "-c", "c.json"]
    import os

    assert os.environ["LOCAL_RANK"] == "3"
    assert expand_set_words(["check", "x", "--set=a=2", "--local-rank", "1"]) == ["check", "x", "--set", "a=2"]
