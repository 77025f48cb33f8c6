"""An MMAR's custom/ leaves PYTHONPATH at entry; other entries stay, in order."""

from __future__ import annotations

import os
from pathlib import Path

from runner.startup_path import drop_custom_from_import_path, is_mmar_custom_folder


def _mmar(tmp_path: Path) -> Path:
    (tmp_path / "m" / "config").mkdir(parents=True)
    (tmp_path / "m" / "custom").mkdir()
    return tmp_path / "m"


def test_only_an_mmar_custom_folder_is_taken_off(tmp_path: Path) -> None:
    root = _mmar(tmp_path)
    (tmp_path / "lib" / "custom").mkdir(parents=True)  # a custom/ that is not an MMAR's stays
    other = str(tmp_path / "lib" / "custom")
    environ = {"PYTHONPATH": os.pathsep.join(["/opt/nvidia", str(root / "custom"), other])}
    path = ["", "/opt/nvidia", str(root / "custom"), other, "/usr/lib/python3.11"]
    assert drop_custom_from_import_path(environ, path) == [str(root / "custom")]
    assert environ["PYTHONPATH"] == os.pathsep.join(["/opt/nvidia", other])
    assert path == ["", "/opt/nvidia", other, "/usr/lib/python3.11"]


def test_pythonpath_holding_only_custom_is_unset(tmp_path: Path) -> None:
    root = _mmar(tmp_path)
    environ = {"PYTHONPATH": str(root / "custom")}
    path = [str(root / "custom")]
    assert drop_custom_from_import_path(environ, path)
    assert "PYTHONPATH" not in environ and path == []


def test_nothing_changes_without_one(tmp_path: Path) -> None:
    environ = {"PYTHONPATH": "/a:/b"}
    path = ["/a", "/b"]
    assert drop_custom_from_import_path(environ, path) == []
    assert environ == {"PYTHONPATH": "/a:/b"} and path == ["/a", "/b"]
    assert not is_mmar_custom_folder("") and not is_mmar_custom_folder(str(tmp_path / "custom"))
