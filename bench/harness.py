"""What every benchmark in bench/ shares: fresh processes, alternating order, medians, the machine.

The rules the issue sets, in one place:

* every variant runs as its own process, so import and start-up costs are counted as a user pays them;
* variants alternate within a repetition and the order rotates every repetition, so a slow minute
  on a shared machine hits every variant alike;
* one uncounted warm-up round first (the first process pays for a cold page cache);
* figures are medians over repetitions, and ratios are taken against a baseline measured in the
  same run (also as the median of per-repetition ratios, which cancels drift between repetitions);
* peak memory is the child's own maximum resident set size, read from ``wait4``;
* the runner's and bench/'s own modules are byte-compiled first (:func:`precompile`), as a pip install
  leaves them, so an editable checkout under ``PYTHONDONTWRITEBYTECODE=1`` does not pay for compiling
  them in every process while the libraries it is compared with load cached bytecode;
* each result file carries a description of the machine and the library versions.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
PYTHON = sys.executable
MMAR_CLI = str(Path(sys.executable).parent / "mmar")
PROBE_ENV = "BENCH_FIRST_ITER_FILE"
OUTPUT_TAIL = 4000
# Inherited by every variant and able to change its timings.
RECORDED_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
VERSIONED = ("torch", "monai", "pytorch-ignite", "numpy", "nibabel", "pydantic", "mmar-runner", "fire", "docker")


class VariantFailed(RuntimeError):
    """A benchmarked process exited non-zero or did not leave the expected outputs."""


@dataclass(frozen=True)
class Command:
    """One benchmarked process: argv, environment changes, and what proves it did its work."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    probe_file: Path | None = None  # where FirstIterationProbe writes; None: not a training run
    expect_file: Path | None = None  # must exist after the run (cleared before it)
    clear: tuple[Path, ...] = ()  # folders removed before each run (outputs of the last one)
    manifest: Path | None = None  # a run manifest to read the weights digest from after the run


@dataclass
class Measurement:
    """One timed run of one variant."""

    variant: str
    rep: int
    position: int
    total_s: float
    first_iteration_s: float | None
    peak_rss_mb: float
    weights_digest: str | None = None


def log(message: str) -> None:
    """Progress on stdout, flushed at once (the CLI output of a bench script)."""
    print(message, flush=True)


def run_checked(argv: list[str], what: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a process to completion; return (wall seconds, peak RSS in MB) or raise :class:`VariantFailed`.

    ``wait4`` gives the rusage of exactly this child (``ru_maxrss`` survives ``execve``, so
    ``mmar train`` re-executing itself is still one process).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            out.seek(0)
            err.seek(0)
            raise VariantFailed(
                f"{what} exited {process.returncode}\ncommand: {' '.join(argv)}\n"
                f"--- stdout (tail) ---\n{_tail(out.read())}\n--- stderr (tail) ---\n{_tail(err.read())}"
            )
    return wall, usage.ru_maxrss / 1024.0


def _tail(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")[-OUTPUT_TAIL:]


def measure(variant: str, command: Command, rep: int, position: int) -> Measurement:
    """Run one variant once from a clean state; wall time, time to first iteration, peak memory."""
    for folder in command.clear:
        shutil.rmtree(folder, ignore_errors=True)
    if command.expect_file is not None:
        command.expect_file.unlink(missing_ok=True)
    env = {**os.environ, **command.env}
    if command.probe_file is not None:
        command.probe_file.parent.mkdir(parents=True, exist_ok=True)
        command.probe_file.unlink(missing_ok=True)
        env[PROBE_ENV] = str(command.probe_file)
    launched_at = time.time()
    total, peak = run_checked(command.argv, f"{variant} (rep {rep})", env=env)
    first: float | None = None
    if command.probe_file is not None:
        if not command.probe_file.is_file():
            raise VariantFailed(f"{variant} (rep {rep}) exited 0 but its FirstIterationProbe wrote nothing to {command.probe_file}")
        first = float(command.probe_file.read_text(encoding="utf-8")) - launched_at
    if command.expect_file is not None and not command.expect_file.is_file():
        raise VariantFailed(f"{variant} (rep {rep}) exited 0 but wrote no {command.expect_file}")
    digest = None
    if command.manifest is not None:
        digest = json.loads(command.manifest.read_text(encoding="utf-8"))["weights_digest"]
    return Measurement(variant, rep, position, total, first, peak, digest)


def rotated(items: list[str], shift: int) -> list[str]:
    """``items`` rotated left by ``shift`` (repetition r starts with item r mod n)."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def precompile() -> None:
    """Write the bytecode of runner/ and bench/ (what ``pip install`` does for site-packages).

    Idempotent: up-to-date files are skipped. compileall writes even under ``PYTHONDONTWRITEBYTECODE``.
    """
    for folder in (REPO / "runner", BENCH):
        if not compileall.compile_dir(folder, quiet=1):
            raise SystemExit(f"could not byte-compile {folder}")


def alternate(commands: dict[str, Command], reps: int, warmup: int = 1, label: str = "") -> list[Measurement]:
    """Warm-up rounds (discarded), then ``reps`` repetitions of every variant in a rotating order."""
    precompile()
    order = list(commands)
    prefix = f"[{label}] " if label else ""
    for round_ in range(1, warmup + 1):
        for variant in order:
            result = measure(variant, commands[variant], 0, 0)
            log(f"{prefix}warm-up {round_}/{warmup} {variant:<18} {result.total_s:7.2f} s (not counted)")
    measurements: list[Measurement] = []
    for rep in range(1, reps + 1):
        for position, variant in enumerate(rotated(order, rep - 1)):
            result = measure(variant, commands[variant], rep, position)
            measurements.append(result)
            first = f", first iteration {result.first_iteration_s:.2f} s" if result.first_iteration_s is not None else ""
            log(f"{prefix}rep {rep}/{reps} {variant:<18} {result.total_s:7.2f} s{first}, peak {result.peak_rss_mb:.0f} MB")
    return measurements


def summarize(measurements: list[Measurement]) -> dict[str, dict[str, float | None]]:
    """Per variant: median/min/max wall time, median time to first iteration, median peak memory."""
    summary: dict[str, dict[str, float | None]] = {}
    for variant in dict.fromkeys(m.variant for m in measurements):
        runs = [m for m in measurements if m.variant == variant]
        totals = [m.total_s for m in runs]
        firsts = [m.first_iteration_s for m in runs if m.first_iteration_s is not None]
        summary[variant] = {
            "runs": len(runs),
            "median_total_s": statistics.median(totals),
            "min_total_s": min(totals),
            "max_total_s": max(totals),
            "median_first_iteration_s": statistics.median(firsts) if firsts else None,
            "median_peak_rss_mb": statistics.median(m.peak_rss_mb for m in runs),
        }
    return summary


def timing_table(summary: dict[str, dict[str, float | None]]) -> list[str]:
    """The Markdown table of whole-run timings every run-versus-run benchmark prints first."""
    def cell(value: float | None, digits: int = 2) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = ["| variant | median total s | min s | max s | first iteration s | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    for variant, row in summary.items():
        lines.append(f"| {variant} | {cell(row['median_total_s'])} | {cell(row['min_total_s'])} | {cell(row['max_total_s'])} "
                     f"| {cell(row['median_first_iteration_s'])} | {cell(row['median_peak_rss_mb'], 0)} |")
    return lines


def paired_values(measurements: list[Measurement], variant: str, baseline: str, field_name: str) -> list[tuple[float, float]]:
    """(variant, baseline) values of ``field_name`` from the same repetition, one pair per repetition."""
    by_rep: dict[int, dict[str, Measurement]] = {}
    for m in measurements:
        by_rep.setdefault(m.rep, {})[m.variant] = m
    return [(getattr(runs[variant], field_name), getattr(runs[baseline], field_name))
            for runs in by_rep.values() if variant in runs and baseline in runs]


def paired_ratio(measurements: list[Measurement], variant: str, baseline: str, field_name: str) -> float:
    """Median over repetitions of ``variant / baseline`` within the same repetition (cancels machine drift)."""
    return statistics.median(v / b for v, b in paired_values(measurements, variant, baseline, field_name))


def paired_difference(measurements: list[Measurement], variant: str, baseline: str, field_name: str) -> float:
    """Median over repetitions of ``variant - baseline`` within the same repetition."""
    return statistics.median(v - b for v, b in paired_values(measurements, variant, baseline, field_name))


def machine_description() -> dict[str, Any]:
    """CPU model, core counts, memory, OS, Python and the versions of the libraries that do the work."""
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        first = meminfo.read_text(encoding="utf-8").splitlines()[0].split()
        memory_gib = round(int(first[1]) / 1024 / 1024, 1)
    versions = {}
    for package in VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    affinity: Callable[[int], set[int]] | None = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity else os.cpu_count(),
        "memory_gib": memory_gib,
        "gpu": _gpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "env": {name: os.environ.get(name) for name in RECORDED_ENV},
    }


def _gpu_name() -> str | None:
    """The first CUDA device, asked in a child process so this one never starts CUDA."""
    probe = "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    done = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def write_result(name: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    """``bench/results/<name>.json`` with the start time and the machine added."""
    target = out or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": machine_description(), **payload}
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    log(f"raw results: {target}")
    return target


def as_rows(measurements: Iterable[Measurement]) -> list[dict[str, Any]]:
    return [asdict(m) for m in measurements]
