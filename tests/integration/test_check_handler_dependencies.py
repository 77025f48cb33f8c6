"""``mmar check`` names a handler whose optional package is missing before any training runs (issue 19, item 10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.components.packages import HANDLER_NEEDS, is_installed, missing_handler_package
from tests.cli_helpers import invoke


def test_mlflow_handler_without_mlflow_is_named_with_its_package() -> None:
    assert missing_handler_package("MLFlowHandler", installed=lambda module: module != "mlflow") == "mlflow"
    assert missing_handler_package("MLFlowHandler", installed=lambda module: True) is None
    assert missing_handler_package("StatsHandler", installed=lambda module: False) is None, "needs nothing optional"


def test_every_listed_handler_exists_in_monai() -> None:
    import monai.handlers

    assert [name for name in HANDLER_NEEDS if not hasattr(monai.handlers, name)] == []


@pytest.mark.skipif(is_installed("clearml"), reason="needs an environment without clearml (the check is real)")
def test_check_fails_on_a_handler_whose_package_is_missing(make_mmar: Callable[..., Path]) -> None:
    def edit(config: dict) -> None:
        config["train"]["handlers"].append({"name": "ClearMLStatsHandler", "rank": 0, "args": {"log_dir": "{MMAR_CKPT_DIR}"}})

    root = make_mmar(edit=edit)
    result = invoke("check", str(root))
    assert result.exit_code == 2, result.stderr
    index = len(__import__("json").loads((root / "config" / "config_train.json").read_text())["train"]["handlers"]) - 1
    assert (f"config/config_train.json: train.handlers[{index}]: ClearMLStatsHandler needs the package clearml, "
            "which is not installed here") in result.stderr
    assert "hint: pip install clearml" in result.stderr
