"""Alternated training runs with the GPU probe: wall time, time to first iteration, iterations/s, peak GPU memory.

The harness's rules hold (fresh process per run, variants alternating in a rotating order, medians,
ratios paired within a repetition); what this adds to :func:`harness.measure` is reading each
run's ``GpuProbe`` file, which is why the loop is here and not :func:`harness.alternate`.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_probe import ENV_VAR
from harness import Command, Measurement, VariantFailed, log, measure, paired_ratio, precompile, rotated, summarize

MB = 1024 * 1024


@dataclass
class GpuRun(Measurement):
    """One timed run, with what the GPU probe saw."""

    iterations: int = 0
    iterations_per_s: float | None = None
    max_memory_allocated_mb: float | None = None
    max_memory_reserved_mb: float | None = None


@dataclass(frozen=True)
class Variant:
    """A benchmarked command and the file its GPU probe writes."""

    command: Command
    probe_file: Path


def with_probe(command: Command, probe_file: Path) -> Variant:
    """The command with ``BENCH_GPU_PROBE_FILE`` set to ``probe_file``."""
    env = {**command.env, ENV_VAR: str(probe_file)}
    return Variant(Command(command.argv, env, command.probe_file, command.expect_file, command.clear, command.manifest), probe_file)


def read_probe(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise VariantFailed(f"{what} exited 0 but its GpuProbe wrote nothing to {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def measure_one(name: str, variant: Variant, rep: int, position: int) -> GpuRun:
    """:func:`harness.measure`, then the probe's figures (iterations/s over the iterations after the first)."""
    variant.probe_file.parent.mkdir(parents=True, exist_ok=True)
    variant.probe_file.unlink(missing_ok=True)
    base = measure(name, variant.command, rep, position)
    probe = read_probe(variant.probe_file, f"{name} (rep {rep})")
    rate = None
    if probe["iterations"] > 1 and probe["last_iteration_at"] > probe["first_iteration_at"]:
        rate = (probe["iterations"] - 1) / (probe["last_iteration_at"] - probe["first_iteration_at"])
    allocated, reserved = probe.get("max_memory_allocated"), probe.get("max_memory_reserved")
    return GpuRun(base.variant, base.rep, base.position, base.total_s, base.first_iteration_s, base.peak_rss_mb,
                  base.weights_digest, probe["iterations"], rate,
                  None if allocated is None else allocated / MB, None if reserved is None else reserved / MB)


def alternate(variants: dict[str, Variant], reps: int, warmup: int, label: str) -> tuple[list[GpuRun], dict[str, str]]:
    """Warm-up rounds (discarded), then ``reps`` repetitions, the order rotating each repetition.

    A variant that fails is dropped from the rest of the rotation and its error returned, so one
    failing variant (say, an operation with no deterministic CUDA kernel) still leaves the others'
    figures from a GPU lease that will not come again soon.
    """
    precompile()
    order = list(variants)
    failed: dict[str, str] = {}

    def attempt(name: str, rep: int, position: int) -> GpuRun | None:
        if name in failed:
            return None
        try:
            return measure_one(name, variants[name], rep, position)
        except VariantFailed as error:
            failed[name] = str(error)
            log(f"[{label}] {name} FAILED and is dropped from the rotation:\n{error}")
            return None

    for round_ in range(1, warmup + 1):
        for name in order:
            if (run := attempt(name, 0, 0)) is not None:
                log(f"[{label}] warm-up {round_}/{warmup} {name:<24} {run.total_s:7.2f} s (not counted)")
    runs: list[GpuRun] = []
    for rep in range(1, reps + 1):
        for position, name in enumerate(rotated(order, rep - 1)):
            if (run := attempt(name, rep, position)) is None:
                continue
            runs.append(run)
            rate = f"{run.iterations_per_s:.2f} it/s" if run.iterations_per_s is not None else "it/s n/a"
            memory = f", GPU peak {run.max_memory_allocated_mb:.0f} MB" if run.max_memory_allocated_mb is not None else ""
            first = f"first iteration {run.first_iteration_s:.2f} s" if run.first_iteration_s is not None else "first iteration n/a"
            log(f"[{label}] rep {rep}/{reps} {name:<24} {run.total_s:7.2f} s, {first}, {run.iterations} iterations, {rate}{memory}")
    return runs, failed


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _max(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def summary(runs: list[GpuRun]) -> dict[str, dict[str, Any]]:
    """The harness's per-variant summary plus iterations/s, peak GPU memory and distinct weights digests."""
    table: dict[str, dict[str, Any]] = {name: dict(row) for name, row in summarize(list(runs)).items()}
    for name, row in table.items():
        mine = [r for r in runs if r.variant == name]
        row["median_iterations_per_s"] = _median([r.iterations_per_s for r in mine])
        row["iterations"] = mine[0].iterations
        row["max_memory_allocated_mb"] = _max([r.max_memory_allocated_mb for r in mine])
        row["max_memory_reserved_mb"] = _max([r.max_memory_reserved_mb for r in mine])
        row["weights_digests"] = sorted({r.weights_digest for r in mine if r.weights_digest})
        row["order"] = [r.position for r in mine]
    return table


def paired(runs: list[GpuRun], variant: str, baseline: str, field_name: str) -> float | None:
    """Median over repetitions of variant / baseline; None when a run lacks the figure or no repetition has both."""
    if any(getattr(r, field_name) is None for r in runs if r.variant in (variant, baseline)):
        return None
    if not {variant, baseline} <= {r.variant for r in runs}:
        return None
    return paired_ratio(list(runs), variant, baseline, field_name)
