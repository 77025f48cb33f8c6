"""The table of MONAI names removed since 0.5: true of today's MONAI, served while an MMAR runs, one test per row."""

from __future__ import annotations

import importlib
import logging
import sys
import types

import pytest

from runner.legacy.import_shim import RemovedNameError, legacy_monai_names
from runner.legacy.monai_names import REMOVED_MODULES, REMOVED_NAMES, SHADOWED_BY_SUBMODULE, RemovedName

ROWS = [pytest.param(row, id=f"{row.modules[0]}.{row.name}") for row in REMOVED_NAMES]


def successor_of(row: RemovedName):
    owner, _, attribute = row.successor.rpartition(".")
    return getattr(importlib.import_module(owner), attribute)


@pytest.mark.parametrize("row", ROWS)
def test_the_name_is_gone_from_todays_monai(row: RemovedName) -> None:
    """Outside an MMAR run every row really is missing (or, for the lowercase aliases, a submodule now)."""
    for module_name in row.modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            assert module_name in REMOVED_MODULES, f"{module_name} does not import but is not listed as removed"
            continue
        assert module_name not in REMOVED_MODULES, f"{module_name} imports, but is listed as removed"
        value = getattr(module, row.name, None)
        if (module_name, row.name) in SHADOWED_BY_SUBMODULE:
            assert isinstance(value, types.ModuleType)
        else:
            assert value is None, f"{module_name}.{row.name} still exists in MONAI"


@pytest.mark.parametrize("row", ROWS)
def test_while_an_mmar_runs_the_import_resolves_to_its_successor_or_names_the_release(row: RemovedName) -> None:
    with legacy_monai_names():
        for module_name in row.modules:
            namespace: dict = {}
            statement = f"from {module_name} import {row.name} as imported"
            if (module_name, row.name) in SHADOWED_BY_SUBMODULE:
                exec(statement, namespace)  # still the submodule: mmar check reports it, mmar migrate rewrites it
                assert isinstance(namespace["imported"], types.ModuleType)
            elif row.successor is None:
                with pytest.raises(RemovedNameError, match=f"removed in MONAI {row.removed}"):
                    exec(statement, namespace)
            else:
                exec(statement, namespace)
                assert namespace["imported"] is successor_of(row)
    assert all(name not in sys.modules for name in REMOVED_MODULES), "the shim leaves no module behind"


def test_one_warning_per_name_naming_the_importing_line(caplog: pytest.LogCaptureFixture) -> None:
    code = compile("from monai.metrics import compute_meandice\nfrom monai.metrics import compute_meandice as again\n",
                   "custom/deepgrow/handler.py", "exec")
    with caplog.at_level(logging.WARNING), legacy_monai_names():
        exec(code, {})
    warned = [r.getMessage() for r in caplog.records if "compute_meandice" in r.getMessage()]
    assert warned == ["custom/deepgrow/handler.py, line 1: monai.metrics.compute_meandice is gone since MONAI 1.2.0; using "
                      "monai.metrics.compute_dice (same arguments (y_pred, y, include_background); NaN for an empty ground truth, as before)"]


def test_outside_a_run_nothing_is_served() -> None:
    with legacy_monai_names():
        from monai.handlers.segmentation_saver import SegmentationSaver  # noqa: F401
    with pytest.raises(ImportError):
        from monai.metrics import compute_meandice  # noqa: F401
    with pytest.raises(ImportError):
        importlib.import_module("monai.handlers.segmentation_saver")
    import monai.metrics

    assert "__getattr__" not in vars(monai.metrics)
