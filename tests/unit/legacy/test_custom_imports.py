"""custom/ code read (never run) for MONAI names: what check reports, what migrate rewrites."""

from __future__ import annotations

from pathlib import Path

from runner.components.packages import missing_package
from runner.legacy.custom_imports import check_custom_imports, migrate_source

SOURCE = """import monai
from monai.metrics import compute_meandice, DiceMetric
from monai.networks.nets import unet
from monai.utils import alias
from monai.handlers.utils import make_grid_with_titles
from monai.handlers import (
    SegmentationSaver,
    StatsHandler as Stats,
)


def score(a, b):
    return monai.metrics.compute_meandice(a, b)
"""


def test_check_reports_what_will_not_run(tmp_path: Path) -> None:
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "handler.py").write_text(SOURCE)
    issues = {(i.path, i.severity): i.message for i in check_custom_imports(tmp_path)}
    assert issues[("line 3", "error")].startswith("monai.networks.nets.unet is the submodule monai.networks.nets.unet since MONAI 0.8.0")
    assert issues[("line 4", "error")].startswith("monai.utils.alias was removed in MONAI 1.4.0 and has no successor")
    assert issues[("line 5", "error")] == "monai.handlers.utils has no name make_grid_with_titles in today's MONAI"
    assert all(i.file == "custom/handler.py" for i in check_custom_imports(tmp_path))
    assert len(issues) == 3, "names with a successor (compute_meandice, SegmentationSaver) are resolved at run time, not errors"


def test_migrate_rewrites_imports_in_place_and_keeps_the_line_count() -> None:
    migrated, changes = migrate_source(SOURCE)
    lines = migrated.splitlines()
    assert len(lines) == len(SOURCE.splitlines())
    assert lines[1] == "from monai.metrics import compute_dice as compute_meandice, DiceMetric"
    assert lines[2] == "from monai.networks.nets import UNet as unet"
    assert lines[3] == "from monai.utils import alias", "no successor: left for check to report"
    assert lines[5] == "from monai.handlers import StatsHandler as Stats; from runner.legacy.successors import SegmentationSaver"
    assert lines[12] == "    return monai.metrics.compute_dice(a, b)"
    assert [c.line for c in changes] == [2, 3, 6, 13]
    compile(migrated, "migrated.py", "exec")


def test_a_class_that_needs_an_uninstalled_package_is_named(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from runner.components import packages

    monkeypatch.setitem(packages.NEEDS, "TorchVisionFCModel", ("no_such_module_here", "torchvision"))
    monkeypatch.setitem(packages.NEEDS, "ITKReader", ("no_such_module_either", "itk"))
    assert missing_package("TorchVisionFCModel", {}) == ("TorchVisionFCModel", "torchvision")
    assert missing_package("LoadImaged", {"reader": "ITKReader"}) == ("ITKReader", "itk")
    monkeypatch.setitem(packages.NEEDS, "ITKReader", ("numpy", "itk"))
    assert missing_package("LoadImaged", {"reader": "ITKReader"}) is None, "installed: nothing to report"
    assert missing_package("UNet", {}) is None
