"""The GPU check (bench/gpu/) cannot rot: its script runs here on CPU at tiny sizes, and its parts are checked.

The smoke run is not a measurement (2 CPU cores, seconds per run); what it proves is that every
phase runs to completion and writes what the report reads: both verify verdicts with the kept
runs compared, 3 alternated repetitions of the 3 variants with positive timings and the probe's
iteration counts, and a device fingerprint that says CPU. The report must label such a run CPU
and say that no GPU run exists. The prepare step's checks and run.sh's refusal of a tampered wheel
are checked without network.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

GPU = REPO / "bench" / "gpu"
VARIANTS = ["mmar", "handwritten", "mmar_nondeterministic"]
sys.path[:0] = [str(GPU), str(REPO / "bench")]

import gpu_throughput  # noqa: E402
import prepare  # noqa: E402
import report  # noqa: E402
from harness import Command  # noqa: E402


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CPU run of the GPU check at tiny sizes; the folder holding its gpu.json."""
    results = tmp_path_factory.mktemp("gpu-results")
    work = tmp_path_factory.mktemp("gpu-work")
    done = subprocess.run([sys.executable, str(GPU / "gpu_check.py"), "--device", "cpu", "--results", str(results),
                           "--work", str(work)], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, f"gpu_check.py failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return results


def load(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "gpu.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_phase_ran_and_the_result_says_cpu(smoke: Path) -> None:
    result = load(smoke)
    assert result["benchmark"] == "gpu" and result["device_requested"] == "cpu" and result["scale"] == "tiny"
    assert result["complete"] is True and result["errors"] == {}
    assert set(result["phases_s"]) == {"workspace", "verify_amp_off", "verify_amp_on", "throughput", "device_fingerprint"}
    fingerprint = result["device_fingerprint"]
    assert fingerprint["device"] == "cpu" and fingerprint["cuda_available"] is False and fingerprint["gpu_name"] is None
    import torch

    assert result["environment"]["versions"]["torch"]["version"] == torch.__version__
    assert result["environment"]["against_lock"]["monai"]["used"] == result["environment"]["versions"]["monai"]["version"]


@pytest.mark.slow
def test_verify_with_amp_off_and_on_gives_verdicts_from_the_kept_runs(smoke: Path) -> None:
    result = load(smoke)
    for key, requested in (("verify_amp_off", False), ("verify_amp_on", True)):
        verify = result[key]
        # On CPU the demo pipeline is bit-identical (the suite's own verify tests say so); AMP is asked for, never in force.
        assert verify["verdict"] == "bit-identical" and verify["exit_code"] == 0 and verify["identical"] is True
        first, second = verify["weights_digests"]
        assert first and first == second and verify["output"][0] == f"bit-identical: {first}"
        assert verify["first_diverging_tensor"] is None and verify["differing_tensors"] == 0 and verify["tensors"] > 10
        assert verify["amp"] == {"in_force": False, "requested": requested}
        assert verify["iterations"] == result["verify_iterations"] and verify["wall_s"] > 0
    # AMP is not in force on CPU, so both verifies trained the same weights.
    assert result["verify_amp_off"]["weights_digests"] == result["verify_amp_on"]["weights_digests"]


@pytest.mark.slow
def test_three_alternated_repetitions_with_timings_and_iteration_counts(smoke: Path) -> None:
    result = load(smoke)
    throughput = result["throughput"]
    assert throughput["reps"] == 3 and list(throughput["summary"]) == VARIANTS and throughput["failed"] == {}
    sizes = result["sizes"]
    iterations = sizes["epochs"] * sizes["train_cases"] // sizes["batch_size"]
    runs = throughput["runs"]
    assert len(runs) == 9
    for rep in (1, 2, 3):
        order = [r["variant"] for r in sorted((r for r in runs if r["rep"] == rep), key=lambda r: r["position"])]
        assert order == VARIANTS[rep - 1:] + VARIANTS[:rep - 1], f"rep {rep} did not rotate: {order}"
    for run in runs:
        assert 0 < run["first_iteration_s"] < run["total_s"] and run["peak_rss_mb"] > 0
        assert run["iterations"] == iterations and run["iterations_per_s"] > 0
        assert run["max_memory_allocated_mb"] is None  # no GPU memory on CPU
    assert len(throughput["summary"]["mmar"]["weights_digests"]) == 1  # deterministic: one digest over 3 runs
    assert "--max-iterations" not in " ".join(throughput["commands"]["mmar"])
    assert all(value is not None and value > 0 for value in throughput["ratios"].values())
    mmar_argv = throughput["commands"]["mmar"]
    assert "amp=false" in mmar_argv and "use_gpu=false" in mmar_argv
    assert "deterministic_algorithms=False" in throughput["commands"]["mmar_nondeterministic"]


@pytest.mark.slow
def test_report_labels_a_cpu_run_and_names_a_gpu_one(smoke: Path, tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    shutil.copy2(REPO / "docs" / "BENCHMARKS.md", doc)
    absent = tmp_path / "no-kept-result.json"
    args = ["--results", str(smoke), "--doc", str(doc), "--img", str(tmp_path / "img"), "--gpu-kept", str(absent)]
    done = subprocess.run([sys.executable, str(REPO / "bench" / "report.py"), *args], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    block = gpu_block_of(doc.read_text(encoding="utf-8"))
    result = load(smoke)
    assert block.startswith("**Not run on a GPU yet.**") and "**Device: CPU**" in block and "not GPU figures" in block
    assert "| AMP off | **bit-identical** |" in block and "| AMP on | **bit-identical** |" in block
    assert f"| `mmar train` (AMP off) | {result['throughput']['summary']['mmar']['median_total_s']:.2f} |" in block

    # The same result as if it came from a GPU: the device is named and nothing says CPU.
    gpu = copy.deepcopy(result)
    gpu["device_requested"] = "cuda"
    gpu["device_fingerprint"].update(gpu_name="NVIDIA H200", gpu_capability="9.0", gpu_sm_count=132, gpu_memory_bytes=150 * 2**30,
                                     driver="580.159.03", torch_cuda="13.0", cudnn=91000)
    rendered = report.gpu_block(gpu)
    assert "**Device: NVIDIA H200** (compute capability 9.0, 132 SMs, 150 GiB; driver 580.159.03, CUDA 13.0" in rendered
    assert "Not run on a GPU yet" not in rendered and "CPU" not in rendered.split("\n")[0]


def gpu_block_of(text: str) -> str:
    return text.split("<!-- bench:gpu -->\n", 1)[1].split("<!-- /bench:gpu -->", 1)[0].strip()


def test_a_cuda_result_beats_a_cpu_one_and_none_says_so(tmp_path: Path) -> None:
    results, kept = tmp_path / "results", tmp_path / "kept" / "gpu.json"
    results.mkdir()
    kept.parent.mkdir()
    assert report.pick_gpu_result(results, kept) == (None, None)
    assert report.gpu_block(None).startswith("**Not run on a GPU yet.**")
    (results / "gpu.json").write_text(json.dumps({"device_requested": "cpu"}), encoding="utf-8")
    assert report.pick_gpu_result(results, kept) == ({"device_requested": "cpu"}, results / "gpu.json")
    kept.write_text(json.dumps({"device_requested": "cuda"}), encoding="utf-8")
    assert report.pick_gpu_result(results, kept) == ({"device_requested": "cuda"}, kept)


def test_the_carried_pins_are_the_lock_and_pyproject_pins() -> None:
    lock = prepare.read_lock()
    specs = prepare.requirements(lock)
    assert "torch" not in {s.split("==")[0] for s in specs}  # the machine's own torch is used
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for spec in specs:
        name, version = spec.split("==")
        assert version == lock[name].version
        if f'"{name}==' in pyproject:
            assert f'"{spec}"' in pyproject, f"{spec}: the lock and pyproject.toml disagree"


def fake_wheel(folder: Path, filename: str) -> Path:
    path = folder / filename
    dist = "-".join(filename.split("-")[:2])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}.dist-info/METADATA", "Metadata-Version: 2.1\n")
    return path


def test_prepare_refuses_a_pure_wheel_that_is_not_the_locked_file_and_drops_stale_ones(tmp_path: Path) -> None:
    lock = prepare.read_lock()
    version = lock["monai"].version
    fake_wheel(tmp_path, f"monai-{version}-py3-none-any.whl")
    stale = fake_wheel(tmp_path, "monai-0.0.1-py3-none-any.whl")
    with pytest.raises(SystemExit, match="is not the lock's"):
        prepare.verify(tmp_path, lock)
    assert not stale.exists()


def test_prepare_checks_pure_wheels_against_the_lock_and_records_an_unlisted_compiled_one(tmp_path: Path) -> None:
    lock = prepare.read_lock()
    known: dict[str, frozenset[str]] = {}
    for name in prepare.CARRIED:
        stem = f"{name.replace('-', '_')}-{lock[name].version}"
        if name == "pydantic-core":
            fake_wheel(tmp_path, f"{stem}-cp312-cp312-manylinux_2_17_x86_64.whl")
        else:
            known[name] = frozenset({prepare.sha256(fake_wheel(tmp_path, f"{stem}-py3-none-any.whl"))})
    fetched = {f.name: f for f in prepare.verify(tmp_path, lock, known)}
    assert set(fetched) == set(prepare.CARRIED)
    assert fetched["pydantic-core"].checked_against_lock is False
    assert all(f.checked_against_lock for name, f in fetched.items() if name != "pydantic-core")
    prepare.write_records(tmp_path, list(fetched.values()))
    sums = (tmp_path / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert len(sums) == len(prepare.CARRIED) and f"{fetched['monai'].sha256}  {fetched['monai'].file}" in sums


def test_a_lock_line_with_several_hashes_keeps_them_all(tmp_path: Path) -> None:
    lock = tmp_path / "requirements-x.lock"
    lock.write_text("# comment\nPydantic_Core==2.46.4 --hash=sha256:" + "a" * 64 + " --hash=sha256:" + "b" * 64 + "\n", encoding="utf-8")
    assert prepare.read_lock(lock)["pydantic-core"] == prepare.Pin("pydantic-core", "2.46.4", frozenset({"a" * 64, "b" * 64}))


def test_run_sh_stops_at_a_wheel_whose_sum_does_not_match(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = fake_wheel(wheels, "monai-1.6.1-py3-none-any.whl")
    (wheels / "SHA256SUMS").write_text(f"{hashlib.sha256(b'other bytes').hexdigest()}  {wheel.name}\n", encoding="utf-8")
    site = tmp_path / "site"
    env = {**os.environ, "MMAR_GPU_WHEELS": str(wheels), "MMAR_GPU_SITE": str(site), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(GPU / "run.sh"), str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr
    assert not site.exists()  # nothing was installed


PROBE_WRITER = ("import json, os, time; t = time.time(); "
                "open(os.environ['BENCH_GPU_PROBE_FILE'], 'w').write(json.dumps({'iterations': 3, 'first_iteration_at': t, "
                "'last_iteration_at': t + 0.5, 'max_memory_allocated': 2**20, 'max_memory_reserved': 2**21}))")


def test_a_failing_variant_is_dropped_and_the_others_keep_alternating(tmp_path: Path) -> None:
    ok = gpu_throughput.with_probe(Command([sys.executable, "-c", PROBE_WRITER]), tmp_path / "ok.json")
    bad = gpu_throughput.with_probe(Command([sys.executable, "-c", "raise SystemExit(3)"]), tmp_path / "bad.json")
    runs, failed = gpu_throughput.alternate({"ok": ok, "bad": bad, "ok2": ok}, reps=3, warmup=0, label="test")
    assert [(r.variant, r.rep) for r in runs] == [("ok", 1), ("ok2", 1), ("ok2", 2), ("ok", 2), ("ok2", 3), ("ok", 3)]
    assert list(failed) == ["bad"] and "exited 3" in failed["bad"]
    assert all(r.iterations == 3 and r.iterations_per_s == pytest.approx(4.0) and r.max_memory_allocated_mb == 1.0 for r in runs)
    assert gpu_throughput.paired(runs, "ok", "bad", "total_s") is None
    assert gpu_throughput.paired(runs, "ok", "ok2", "iterations_per_s") == pytest.approx(1.0)
