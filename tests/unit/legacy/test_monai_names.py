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


def test_one_warning_per_name_naming_the_importing_line(caplog: pytest.LogCaptureFixture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = compile("from monai.metrics import compute_meandice\nfrom monai.metrics import compute_meandice as again\n",
                   str(tmp_path.resolve() / "custom" / "deepgrow" / "handler.py"), "exec")
    with caplog.at_level(logging.WARNING), legacy_monai_names(tmp_path):
        exec(code, {})
    with caplog.at_level(logging.WARNING), legacy_monai_names(tmp_path):
        exec(code, {})  # the same MMAR again in this process (mmar train checks, then builds): no second warning
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


def test_the_table_in_migrating_md_is_the_table_in_the_code() -> None:
    """docs/MIGRATING.md lists every row, with its release and successor, and nothing else."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "MIGRATING.md").read_text()
    section = doc.split("## Legacy MONAI names in custom code", 1)[1].split("\n## ", 1)[0]
    documented = []
    for line in section.splitlines():
        match = re.match(r"\| `([^`]+)` \| (.+?) \| ([\d.]+) \| (.+?) \|", line)
        if match:
            modules = tuple(re.findall(r"`([^`]+)`", match.group(2)))
            successor = re.match(r"`([^`]+)`", match.group(4))
            documented.append((match.group(1), modules, match.group(3), successor.group(1) if successor else None))
    assert documented == [(r.name, r.modules, r.removed, r.successor) for r in REMOVED_NAMES]


def test_every_test_the_pattern_table_cites_exists() -> None:
    """The "proven by" column of docs/MIGRATING.md names tests that exist, so the table cannot drift."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    doc = (repo / "docs" / "MIGRATING.md").read_text()
    section = doc.split("## Real Clara 4.x MMARs: what mmar does with each pattern", 1)[1].split("\n## ", 1)[0]
    cited = set(re.findall(r"`(test_[a-z0-9_]+)(?:\[[^\]]*\])?`", section))
    sources = "".join(p.read_text() for p in (repo / "tests").rglob("test_*.py"))
    assert cited and all(f"def {name}(" in sources for name in cited), sorted(n for n in cited if f"def {n}(" not in sources)
    files = set(re.findall(r"(tests/[\w/]+\.py)", section))
    assert files and all((repo / f).is_file() for f in files), files
