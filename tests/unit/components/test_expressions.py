from __future__ import annotations

import pytest

from runner.components import expressions


def test_classification() -> None:
    assert expressions.is_reference("@model") and not expressions.is_reference("@model.x")
    assert expressions.is_expression("#@model.parameters()")
    assert expressions.is_lambda("lambda x: x['loss']") and not expressions.is_lambda("lambdas")
    assert expressions.referenced_names("#zip(@a.x, @b_2)") == ["a", "b_2"]
    assert expressions.referenced_names("#a @ b") == []  # matrix product, not a reference
    assert expressions.referenced_names("plain") == []


def test_expression_sees_references_and_libraries() -> None:
    refs = {"size": 3}
    assert expressions.evaluate("#[@size] * 2", refs.__getitem__) == [3, 3]
    assert expressions.evaluate("#np.zeros(@size).shape[0] + torch.ones(1).numel()", refs.__getitem__) == 4
    assert expressions.evaluate("#monai.handlers.from_engine(['loss'], first=True)([{'loss': 5}])", refs.__getitem__) == 5


def test_lambda_strings_become_functions() -> None:
    fn = expressions.evaluate("lambda x: (x['pred'], x['label'])", lambda n: None)
    assert fn({"pred": 1, "label": 2}) == (1, 2)


def test_syntax_errors_surface_on_compile() -> None:
    with pytest.raises(SyntaxError):
        expressions.compile_source("#@model.parameters(")
