"""Strict JSON reading with the JSON path and line of each problem; atomic writing that says when the disk failed."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from runner.errors import MmarLayoutError, OutputWriteError
from runner.json_locate import find_duplicate_key, find_non_finite
from runner.jsonio import load_json, write_atomic, write_json_atomic


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(MmarLayoutError) as error:
        load_json(path, "c.json")
    return error.value.message


def test_each_problem_is_named_with_its_json_path_and_line(tmp_path: Path) -> None:
    assert refused(tmp_path, '{"a": {"b": 1,\n "b": 2}}') == "c.json: a.b: duplicate key 'b' (line 2)"
    assert refused(tmp_path, '{"x": [1,\n 2, NaN]}') == "c.json: x[2]: NaN (line 2) is not a JSON number"
    assert refused(tmp_path, '{"x": -Infinity}') == "c.json: x: -Infinity (line 1) is not a JSON number"
    assert refused(tmp_path, "[" * 5000 + "]" * 5000) == "c.json: nested deeper than 64 levels"
    assert refused(tmp_path, '{"k": ' + "[" * 70 + "]" * 70 + "}").startswith("c.json: k[0][0]")


def test_the_locator_skips_strings_and_counts_list_items() -> None:
    text = '{"s": "NaN, \\"x\\": 1", "l": [{"a": 1}, {"a": 2, "b": [0, Infinity]}]}'
    assert find_non_finite(text).path == "l[1].b[1]"  # type: ignore[union-attr]
    assert find_duplicate_key('{"a": [{"k": 1}, {"k": 2}], "b": {"k": 1, "j": {"k": 2}, "k": 3}}').path == "b.k"  # type: ignore[union-attr]
    assert find_duplicate_key('{"a": 1}') is None and find_non_finite('{"a": "Infinity"}') is None


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "s.json", {"loss": [0.5, float("nan"), float("inf")], "x": {"y": float("-inf")}})
    assert json.loads((tmp_path / "s.json").read_text()) == {"loss": [0.5, None, None], "x": {"y": None}}


def test_a_full_disk_is_said_as_such_and_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    target.write_text("good")

    def full(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputWriteError) as error:
        write_atomic(target, full)
    assert error.value.message.startswith("no space left on ") and error.value.message.endswith(f"writing {target}")
    assert target.read_text() == "good" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
