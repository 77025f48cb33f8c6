from __future__ import annotations

from pathlib import Path

import pytest

from runner.config.vars import Literal, merge_variables, parse_literal, parse_overrides, resolve_variables, substitute


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("True", True), ("true", True), ("False", False), ("false", False), ("None", None),
        ("5", 5), ("-3", -3), ("2e-4", 2e-4), ("0.0002", 0.0002),
        ("[96,96,96]", [96, 96, 96]), ("[1.5, 1.5, 2.0]", [1.5, 1.5, 2.0]), ("(1, 2)", [1, 2]),
        ("{'a': 1}", {"a": 1}), ("/data/spleen", "/data/spleen"), ("models/x", "models/x"), ("[oops", "[oops"),
    ],
)
def test_set_values_parse_as_literals(text: str, expected: object) -> None:
    value = parse_literal(text)
    assert value == expected
    assert type(value) is (Literal if isinstance(expected, str) else type(expected)), "text from --set is a Literal: data"


def test_parse_overrides_reports_words_without_equals() -> None:
    values, issues = parse_overrides(["epochs=2", "amp", "=3"])
    assert values == {"epochs": 2}
    assert [i.path for i in issues] == ["amp", "=3"]
    assert all(i.file == "--set" for i in issues)


def test_value_with_equals_sign_keeps_the_rest() -> None:
    values, _ = parse_overrides(["expr=a=b"])
    assert values == {"expr": "a=b"}


def test_whole_string_reference_keeps_type_and_embedded_is_text() -> None:
    variables = {"epochs": 5, "lr": 1e-3, "amp": False, "size": [96, 96], "OUT": "/x"}
    raw = {"a": "{epochs}", "b": "{lr}", "c": "{amp}", "d": "{size}", "e": "{OUT}/segs", "f": "e{epochs}"}
    issues: list = []
    out = substitute(raw, variables, "config_train.json", "", issues)
    assert out == {"a": 5, "b": 1e-3, "c": False, "d": [96, 96], "e": "/x/segs", "f": "e5"}
    assert type(out["a"]) is int and type(out["c"]) is bool
    assert issues == []


def test_substituted_list_is_a_copy() -> None:
    variables = {"size": [1, 2]}
    out = substitute({"a": "{size}"}, variables, "f", "", [])
    out["a"].append(3)
    assert variables["size"] == [1, 2]


def test_undefined_variable_names_it_with_path_and_suggestion() -> None:
    issues: list = []
    substitute({"train": {"x": ["{epoch}"]}}, {"epochs": 1}, "config/config_train.json", "", issues)
    assert len(issues) == 1
    assert issues[0].path == "train.x[0]"
    assert "{epoch}" in issues[0].message
    assert "{epochs}" in (issues[0].hint or "")


def test_lambda_strings_are_not_substituted() -> None:
    source = "lambda x: {x: 1}"
    assert substitute({"f": source}, {}, "f", "", []) == {"f": source}


def test_precedence_config_then_environment_then_set(tmp_path: Path) -> None:
    merged, origin = merge_variables(
        {"epochs": 1, "lr": 0.1, "train": {}, "determinism": {"random_seed": 0}},
        {"epochs": 2, "DATA_ROOT": "d"},
        {"epochs": 3, "determinism.random_seed": 9},
        tmp_path,
    )
    assert merged["epochs"] == 3 and origin["epochs"] == "--set"
    assert merged["lr"] == 0.1 and origin["lr"] == "config"
    assert merged["DATA_ROOT"] == "d" and origin["DATA_ROOT"] == "environment"
    assert merged["determinism"] == {"random_seed": 9}
    assert "train" not in merged
    assert merged["MMAR_ROOT"] == str(tmp_path)


def test_environment_beats_config_without_set(tmp_path: Path) -> None:
    merged, _ = merge_variables({"epochs": 1}, {"epochs": 2}, {}, tmp_path)
    assert merged["epochs"] == 2


def test_relative_path_variables_anchor_at_mmar_root(tmp_path: Path) -> None:
    variables, issues = resolve_variables(
        {"MMAR_CKPT_DIR": "models", "MMAR_CKPT": "{MMAR_CKPT_DIR}/model.pt", "DATA_ROOT": "/abs", "name": "models"},
        tmp_path, {},
    )
    assert issues == []
    assert variables["MMAR_CKPT_DIR"] == str(tmp_path / "models")
    assert variables["MMAR_CKPT"] == str(tmp_path / "models" / "model.pt")
    assert variables["DATA_ROOT"] == "/abs"
    assert variables["name"] == "models"


def test_mmar_places_have_defaults_below_every_source(tmp_path: Path) -> None:
    merged, origin = merge_variables({}, {"MMAR_CKPT_DIR": "out"}, {}, tmp_path)
    variables, issues = resolve_variables(merged, tmp_path, {})
    assert issues == [] and origin["MMAR_CKPT"] == "runner default"
    assert variables["MMAR_CKPT"] == str(tmp_path / "out" / "model.pt")
    assert variables["MMAR_EVAL_OUTPUT_PATH"] == str(tmp_path / "eval")


def test_variable_cycles_are_reported_not_truncated() -> None:
    issues: list = []
    substitute({"x": "{a}"}, {"a": "{b}/x", "b": "{a}"}, "c.json", "", issues)
    assert len(issues) == 1 and "cycle: {a} -> {b} -> {a}" in issues[0].message
    assert issues[0].path == "x"
