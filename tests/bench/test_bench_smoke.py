"""`make bench` cannot rot: every benchmark script runs once at its smallest, and report.py turns the
results into the page's tables and plots (in a copy of the page; docs/ is not touched).

These are not measurements: one repetition, no warm-up, the smallest sizes. What they prove is
that each script runs its variants to completion (the harness fails a run whose output files are
missing), writes a result with the machine described, and that the report renders what it wrote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

BENCH = REPO / "bench"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_script(name: str, *args: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-results")
    once = ("--reps", "1", "--warmup", "0")
    run_script("bench_overhead.py", *once, "--epochs", "1", "--out", str(folder / "overhead.json"))
    run_script("bench_scaling.py", *once, "--epochs", "1", "--train-cases", "4", "--out", str(folder / "scaling.json"))
    run_script("bench_check.py", *once, "--sizes", "10", "100", "--out", str(folder / "check.json"))
    run_script("bench_determinism.py", *once, "--epochs", "1", "--out", str(folder / "determinism.json"))
    run_script("bench_data_digest.py", "--reps", "1", "--skip-train", "--skip-large", "--small-files", "100",
               "--out", str(folder / "data_digest.json"))
    run_script("bench_bundle_train.py", *once, "--epochs", "1", "--out", str(folder / "bundle_train.json"))
    return folder


def read(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def test_every_script_writes_its_result_with_the_machine(results: Path) -> None:
    for name in ("overhead", "scaling", "check", "determinism"):
        result = read(results, name)
        assert result["benchmark"] == name
        assert result["machine"]["versions"]["torch"] and result["machine"]["cpu_count"] >= 1
    overhead = read(results, "overhead")
    assert set(overhead["summary"]) == {"mmar", "mmar_plain_gc", "handwritten", "monai_bundle", "mmar_check"}
    for variant in ("mmar", "mmar_plain_gc", "handwritten", "monai_bundle"):
        row = overhead["summary"][variant]
        assert row["median_first_iteration_s"] is not None and 0 < row["median_first_iteration_s"] < row["median_total_s"]
    assert [p["components"] for p in read(results, "check")["points"]] == [10, 100]
    determinism = read(results, "determinism")
    assert all(len(digests) == 1 for digests in determinism["weights_digests"].values())
    bundle = read(results, "bundle_train")
    assert set(bundle["summary"]) == {"mmar_bundle", "monai_bundle"} and bundle["ratios"]["total"] > 0


def test_report_renders_the_results_into_the_page_and_plots(results: Path, tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    shutil.copy2(REPO / "docs" / "BENCHMARKS.md", doc)
    img = tmp_path / "img"
    run_script("report.py", "--results", str(results), "--doc", str(doc), "--img", str(img))
    text = doc.read_text(encoding="utf-8")
    overhead = read(results, "overhead")
    assert f"| `mmar train` | {overhead['summary']['mmar']['median_total_s']:.2f} |" in text
    assert f"**{overhead['ratios']['mmar_over_handwritten_total']:.3f}**" in text
    for point in read(results, "check")["points"]:
        assert f"| {point['components']} | {point['median_total_s']:.2f} |" in text
    assert f"{read(results, 'determinism')['paired_deterministic_over_nondeterministic']:.3f}" in text
    digest = read(results, "data_digest")["sets"]["small_100"]
    assert f"| small_100 | 100 | {digest['bytes'] / 1e9:.3f} | {digest['median_s']['first_cold']:.2f} |" in text
    assert f"mmar / monai.bundle total: **{read(results, 'bundle_train')['ratios']['total']:.3f}**" in text
    for plot in ("bench_ratios.png", "bench_scaling.png", "bench_check.png"):
        assert (img / plot).read_bytes()[:8] == PNG_MAGIC
