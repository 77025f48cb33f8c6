"""Benchmark ``mmar train`` against the same pipeline written by hand and as a MONAI bundle.

Three ways to train the spleen_ct_seg pipeline at the demo sizes, each in a fresh process, with
the variants alternating inside one run (the order rotates every repetition):

* ``mmar``: ``mmar train <copy of bundles/spleen_ct_seg> --set <sizes>``;
* ``handwritten``: ``bench/handwritten_spleen.py``, the pipeline in plain MONAI;
* ``monai_bundle``: ``python -m monai.bundle run`` on ``bench/monai_bundle``.

Measured per run: the wall time of the whole process, and the time from launch to the first
completed training iteration, recorded by ``bench_probe.FirstIterationProbe`` in every variant.
``mmar check <copy>`` is timed in the same rotation. Medians go to stdout as a markdown table;
raw numbers and a machine description go to ``--out``.

    .venv/bin/python bench/bench_train.py --reps 5 --epochs 10
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
SOURCE_MMAR = REPO / "bundles" / "spleen_ct_seg"
PYTHON = sys.executable
MMAR_CLI = str(Path(sys.executable).parent / "mmar")
PROBE_ENV = "BENCH_FIRST_ITER_FILE"
PROBE_MODULE = BENCH / "bench_probe.py"
HANDWRITTEN = BENCH / "handwritten_spleen.py"
BUNDLE_DIR = BENCH / "monai_bundle"
DEFAULT_OUT = BENCH / "results" / "train_overhead.json"

TRAIN_VARIANTS = ("mmar", "handwritten", "monai_bundle")
CHECK = "mmar_check"
GOAL_TOTAL_RATIO = 1.05
STDERR_TAIL = 4000
# Inherited by every variant and able to change its timings.
RECORDED_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


class VariantFailed(RuntimeError):
    """A benchmarked process exited non-zero or did not leave the expected outputs."""


@dataclass(frozen=True)
class Sizes:
    """The demo sizes every variant trains at."""

    epochs: int
    learning_rate: float = 3e-3
    val_interval: int = 5
    patch_size: tuple[int, int, int] = (48, 48, 48)
    val_roi_size: tuple[int, int, int] = (64, 64, 64)
    num_samples: int = 2
    num_workers: int = 0
    batch_size: int = 2
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    pixdim: tuple[float, float, float] = (1.5, 1.5, 2.0)
    cache_rate: float = 1.0
    seed: int = 0

    def mmar_set(self) -> list[str]:
        """``--set`` words for ``mmar train``; pixdim, batch size, cache rate and seed are the config's own."""
        return [
            f"epochs={self.epochs}",
            f"learning_rate={self.learning_rate:g}",
            f"num_interval_per_valid={self.val_interval}",
            f"patch_size={_compact(self.patch_size)}",
            f"val_roi_size={_compact(self.val_roi_size)}",
            f"num_samples={self.num_samples}",
            f"num_workers={self.num_workers}",
            f"channels={_compact(self.channels)}",
            f"strides={_compact(self.strides)}",
        ]

    def handwritten_args(self) -> list[str]:
        """Command-line options of ``handwritten_spleen.py``."""
        return [
            "--epochs", str(self.epochs),
            "--learning-rate", f"{self.learning_rate:g}",
            "--val-interval", str(self.val_interval),
            "--patch-size", *map(str, self.patch_size),
            "--val-roi-size", *map(str, self.val_roi_size),
            "--num-samples", str(self.num_samples),
            "--num-workers", str(self.num_workers),
            "--batch-size", str(self.batch_size),
            "--channels", *map(str, self.channels),
            "--strides", *map(str, self.strides),
            "--pixdim", *map(str, self.pixdim),
            "--cache-rate", str(self.cache_rate),
            "--seed", str(self.seed),
        ]

    def bundle_overrides(self) -> list[str]:
        """``--id value`` overrides of the MONAI bundle's train.json."""
        values: dict[str, Any] = {
            "epochs": self.epochs,
            "learning_rate": f"{self.learning_rate:g}",
            "val_interval": self.val_interval,
            "patch_size": _compact(self.patch_size),
            "val_roi_size": _compact(self.val_roi_size),
            "num_samples": self.num_samples,
            "num_workers": self.num_workers,
            "batch_size": self.batch_size,
            "channels": _compact(self.channels),
            "strides": _compact(self.strides),
            "pixdim": _compact(self.pixdim),
            "cache_rate": self.cache_rate,
            "seed": self.seed,
        }
        return [word for key, value in values.items() for word in (f"--{key}", str(value))]


def _compact(values: tuple[float, ...]) -> str:
    """``(48, 48, 48)`` -> ``[48,48,48]`` (one shell word, as the CLIs expect)."""
    return "[" + ",".join(str(v) for v in values) + "]"


@dataclass(frozen=True)
class Workspace:
    """The temporary folder of one benchmark run: data, the MMAR copy, one output folder per variant."""

    root: Path
    data: Path
    mmar: Path

    def output_dir(self, variant: str) -> Path:
        return self.root / "outputs" / variant

    def probe_file(self, variant: str) -> Path:
        return self.root / "probes" / f"{variant}.txt"


@dataclass(frozen=True)
class Command:
    """One benchmarked process: what to run and with what environment changes."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    probed: bool = True
    expect_output: str | None = "final_model.pt"


@dataclass
class Measurement:
    """One timed run of one variant."""

    variant: str
    rep: int
    position: int
    total_s: float
    first_iteration_s: float | None


def log(message: str) -> None:
    """Progress on stdout, flushed at once."""
    print(message, flush=True)


def prepare_workspace(root: Path) -> Workspace:
    """Synthetic data, and a copy of the demo MMAR wired to it with the probe in its train handlers."""
    data = root / "data"
    run_checked([MMAR_CLI, "synthetic-data", str(data)], cwd=root, what="mmar synthetic-data")
    mmar = root / "spleen_ct_seg"
    shutil.copytree(SOURCE_MMAR, mmar, ignore=_skip_outputs_and_data)
    shutil.copy2(PROBE_MODULE, mmar / "custom" / PROBE_MODULE.name)
    config_file = mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["train"]["handlers"].append({"path": "bench_probe.FirstIterationProbe"})
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    workspace = Workspace(root, data, mmar)
    environment = {
        "DATA_ROOT": str(data),
        "DATASET_JSON": str(data / "dataset.json"),
        "MMAR_CKPT_DIR": str(workspace.output_dir("mmar")),
        "MMAR_CKPT": str(workspace.output_dir("mmar") / "model.pt"),
        "MMAR_EVAL_OUTPUT_PATH": str(root / "outputs" / "mmar_eval"),
    }
    (mmar / "config" / "environment.json").write_text(json.dumps(environment, indent=2) + "\n", encoding="utf-8")
    (root / "probes").mkdir()
    return workspace


def _skip_outputs_and_data(folder: str, names: list[str]) -> list[str]:
    """copytree filter: leave out the source MMAR's data set and whatever earlier runs left in models/ and eval/."""
    here = Path(folder)
    if here == SOURCE_MMAR:
        return [n for n in names if n == "data"]
    if here.name in ("models", "eval") and here.parent == SOURCE_MMAR:
        return [n for n in names if n != ".gitkeep"]
    return []


def bundle_launcher() -> tuple[str, list[str]]:
    """The real ``python -m monai.bundle``; its CLI needs the optional ``fire`` package (a dev extra here)."""
    if importlib.util.find_spec("fire") is None:
        raise SystemExit("python -m monai.bundle needs the 'fire' package: make install (it is in the dev extra)")
    return "python -m monai.bundle", [PYTHON, "-m", "monai.bundle"]


def build_commands(workspace: Workspace, sizes: Sizes, bundle_prefix: list[str]) -> dict[str, Command]:
    """The four benchmarked commands, by variant name."""
    data = workspace.data
    pythonpath = os.pathsep.join(p for p in (str(BENCH), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "mmar": Command([MMAR_CLI, "train", str(workspace.mmar), "--set", *sizes.mmar_set()]),
        "handwritten": Command([
            PYTHON, str(HANDWRITTEN),
            "--data-root", str(data), "--datalist", str(data / "dataset.json"),
            "--output-dir", str(workspace.output_dir("handwritten")),
            *sizes.handwritten_args(),
        ]),
        "monai_bundle": Command(
            [
                *bundle_prefix, "run",
                "--config_file", str(BUNDLE_DIR / "configs" / "train.json"),
                "--meta_file", str(BUNDLE_DIR / "configs" / "metadata.json"),
                "--bundle_root", str(BUNDLE_DIR),
                "--dataset_dir", str(data),
                "--datalist", str(data / "dataset.json"),
                "--output_dir", str(workspace.output_dir("monai_bundle")),
                *sizes.bundle_overrides(),
            ],
            env={"PYTHONPATH": pythonpath},
        ),
        CHECK: Command([MMAR_CLI, "check", str(workspace.mmar)], probed=False, expect_output=None),
    }


def run_checked(argv: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a process to completion; raise :class:`VariantFailed` with its output tail unless it exits 0."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise VariantFailed(
            f"{what} exited {done.returncode}\ncommand: {' '.join(argv)}\n"
            f"--- stdout (tail) ---\n{done.stdout[-STDERR_TAIL:]}\n--- stderr (tail) ---\n{done.stderr[-STDERR_TAIL:]}"
        )
    return done


def measure(variant: str, command: Command, workspace: Workspace, rep: int, position: int) -> Measurement:
    """Run one variant once in a clean output folder; return its wall time and time to first iteration."""
    output_dir = workspace.output_dir(variant)
    shutil.rmtree(output_dir, ignore_errors=True)
    probe_file = workspace.probe_file(variant)
    probe_file.unlink(missing_ok=True)
    env = {**os.environ, **command.env, PROBE_ENV: str(probe_file)}
    launched_at = time.time()
    started = time.perf_counter()
    run_checked(command.argv, cwd=workspace.root, what=f"{variant} (rep {rep})", env=env)
    total = time.perf_counter() - started
    first_iteration: float | None = None
    if command.probed:
        if not probe_file.is_file():
            raise VariantFailed(f"{variant} (rep {rep}) exited 0 but its FirstIterationProbe wrote nothing to {probe_file}")
        first_iteration = float(probe_file.read_text(encoding="utf-8")) - launched_at
    if command.expect_output and not (output_dir / command.expect_output).is_file():
        raise VariantFailed(f"{variant} (rep {rep}) exited 0 but wrote no {output_dir / command.expect_output}")
    return Measurement(variant, rep, position, total, first_iteration)


def rotated(items: list[str], shift: int) -> list[str]:
    """``items`` rotated left by ``shift`` (repetition r starts with item r mod n)."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def run_benchmark(workspace: Workspace, commands: dict[str, Command], reps: int, warmup: int = 1) -> list[Measurement]:
    """Warm-up rounds (discarded: the first process pays for a cold page cache), then all
    repetitions, the variants in a rotating order."""
    order = [*TRAIN_VARIANTS, CHECK]
    for round_ in range(1, warmup + 1):
        for variant in order:
            result = measure(variant, commands[variant], workspace, 0, 0)
            log(f"warm-up {round_}/{warmup} {variant:<13} total {result.total_s:7.2f} s (not counted)")
    measurements: list[Measurement] = []
    for rep in range(1, reps + 1):
        for position, variant in enumerate(rotated(order, rep - 1)):
            result = measure(variant, commands[variant], workspace, rep, position)
            measurements.append(result)
            first = f", first iteration {result.first_iteration_s:.2f} s" if result.first_iteration_s is not None else ""
            log(f"rep {rep}/{reps} {variant:<13} total {result.total_s:7.2f} s{first}")
    return measurements


def summarize(measurements: list[Measurement]) -> dict[str, dict[str, float | None]]:
    """Median, min and max total time and median time to first iteration, per variant."""
    summary: dict[str, dict[str, float | None]] = {}
    for variant in [*TRAIN_VARIANTS, CHECK]:
        runs = [m for m in measurements if m.variant == variant]
        totals = [m.total_s for m in runs]
        firsts = [m.first_iteration_s for m in runs if m.first_iteration_s is not None]
        summary[variant] = {
            "median_total_s": statistics.median(totals),
            "min_total_s": min(totals),
            "max_total_s": max(totals),
            "median_first_iteration_s": statistics.median(firsts) if firsts else None,
        }
    return summary


def paired_ratio(measurements: list[Measurement], variant: str, baseline: str, field_name: str) -> float:
    """Median over repetitions of variant/baseline within the same repetition (cancels machine drift)."""
    by_rep: dict[int, dict[str, Measurement]] = {}
    for m in measurements:
        by_rep.setdefault(m.rep, {})[m.variant] = m
    values = [getattr(runs[variant], field_name) / getattr(runs[baseline], field_name) for runs in by_rep.values()]
    return statistics.median(values)


def ratios(summary: dict[str, dict[str, float | None]], measurements: list[Measurement]) -> dict[str, float]:
    """The two goal ratios (of medians, and paired per repetition) and the first-iteration difference."""
    def value(variant: str, key: str) -> float:
        number = summary[variant][key]
        assert number is not None
        return number

    mmar_first = value("mmar", "median_first_iteration_s")
    bundle_first = value("monai_bundle", "median_first_iteration_s")
    return {
        "mmar_over_handwritten_total": value("mmar", "median_total_s") / value("handwritten", "median_total_s"),
        "mmar_over_monai_bundle_first_iteration": mmar_first / bundle_first,
        "mmar_minus_monai_bundle_first_iteration_s": mmar_first - bundle_first,
        "paired_mmar_over_handwritten_total": paired_ratio(measurements, "mmar", "handwritten", "total_s"),
        "paired_mmar_over_monai_bundle_first_iteration": paired_ratio(measurements, "mmar", "monai_bundle", "first_iteration_s"),
    }


def render(summary: dict[str, dict[str, float | None]], found: dict[str, float], reps: int, epochs: int) -> str:
    """The markdown table and the ratio lines."""
    def cell(number: float | None) -> str:
        return "n/a" if number is None else f"{number:.2f}"

    lines = [
        f"reps {reps}, epochs {epochs}",
        "",
        "| variant | median total s | min s | max s | median time-to-first-iteration s |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, row in summary.items():
        lines.append(f"| {variant} | {cell(row['median_total_s'])} | {cell(row['min_total_s'])} | {cell(row['max_total_s'])} "
                     f"| {cell(row['median_first_iteration_s'])} |")
    total_ratio = found["mmar_over_handwritten_total"]
    first_ratio = found["mmar_over_monai_bundle_first_iteration"]
    first_delta = found["mmar_minus_monai_bundle_first_iteration_s"]
    lines += [
        "",
        f"mmar / handwritten total time: {total_ratio:.3f} (goal <= {GOAL_TOTAL_RATIO:.2f}: "
        f"{'met' if total_ratio <= GOAL_TOTAL_RATIO else 'NOT met'})",
        f"mmar vs monai_bundle time to first iteration: {first_ratio:.3f}x ({first_delta:+.2f} s; goal: mmar not slower: "
        f"{'met' if first_delta <= 0 else 'NOT met'})",
        f"paired per repetition (median of ratios): total {found['paired_mmar_over_handwritten_total']:.3f}, "
        f"first iteration vs monai_bundle {found['paired_mmar_over_monai_bundle_first_iteration']:.3f}x",
        f"mmar check median: {cell(summary[CHECK]['median_total_s'])} s",
    ]
    return "\n".join(lines)


def machine_description() -> dict[str, Any]:
    """CPU model, core counts, OS, Python and the versions of the libraries that do the work."""
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("torch", "monai", "pytorch-ignite", "numpy", "nibabel", "mmar-runner", "fire"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    affinity: Callable[[int], set[int]] | None = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "env": {name: os.environ.get(name) for name in RECORDED_ENV},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of every variant (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds of every variant first (default 1)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per run (default 10)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"raw results JSON (default {DEFAULT_OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.epochs < 1:
        parser.error("--reps and --epochs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Prepare data and the MMAR copy, run every variant ``--reps`` times, print and save the results."""
    args = parse_args(argv)
    sizes = Sizes(epochs=args.epochs)
    launcher_name, bundle_prefix = bundle_launcher()
    started_at = datetime.now(timezone.utc).isoformat()
    try:
        with tempfile.TemporaryDirectory(prefix="mmar-bench-") as tmp:
            workspace = prepare_workspace(Path(tmp))
            commands = build_commands(workspace, sizes, bundle_prefix)
            log(f"workspace {workspace.root}; MONAI bundle launcher: {launcher_name}")
            measurements = run_benchmark(workspace, commands, args.reps, args.warmup)
    except VariantFailed as exc:
        print(f"benchmark FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    summary = summarize(measurements)
    found = ratios(summary, measurements)
    log("")
    log(render(summary, found, args.reps, args.epochs))
    result = {
        "started_at": started_at,
        "reps": args.reps,
        "warmup_rounds": args.warmup,
        "sizes": asdict(sizes),
        "machine": machine_description(),
        "monai_bundle_launcher": launcher_name,
        "commands": {name: {"argv": c.argv, "env": c.env} for name, c in commands.items()},
        "summary": summary,
        "ratios": {**found, "goal_mmar_over_handwritten_total": GOAL_TOTAL_RATIO},
        "measurements": [asdict(m) for m in measurements],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"\nraw results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
