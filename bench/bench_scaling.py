"""Scaling with work: does mmar's overhead over hand-written MONAI stay flat as epochs and data grow?

Two sweeps, each point an alternating mmar / hand-written pair of fresh processes (median of
``--reps``), at the demo sizes otherwise:

* epochs: 1, 4, 16 training epochs on the 8-volume data set;
* data: 4, 8, 16, 32 training volumes at 4 epochs.

The figure of merit is the ratio mmar / hand-written at each point, and the absolute difference
in seconds. A fixed start-up cost shows as a ratio that falls towards 1 as work grows; a cost per
iteration or per volume would show as a ratio that stays up or grows.

    .venv/bin/python bench/bench_scaling.py --reps 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import Measurement, alternate, as_rows, log, paired_difference, paired_ratio, summarize, write_result
from pipelines import Sizes, Workspace, handwritten_command, mmar_command, prepare_workspace

EPOCH_POINTS = (1, 4, 16)
DATA_POINTS = (4, 8, 16, 32)
DATA_SWEEP_EPOCHS = 4


def sweep_point(workspace: Workspace, sizes: Sizes, reps: int, warmup: int, label: str) -> dict[str, Any]:
    """mmar and hand-written alternating at one size; medians, ratio and difference."""
    commands = {"mmar": mmar_command(workspace, sizes), "handwritten": handwritten_command(workspace, sizes)}
    measurements: list[Measurement] = alternate(commands, reps, warmup, label=label)
    summary = summarize(measurements)
    mmar_s, hand_s = summary["mmar"]["median_total_s"], summary["handwritten"]["median_total_s"]
    assert mmar_s is not None and hand_s is not None
    return {
        "epochs": sizes.epochs,
        "train_cases": sizes.train_cases,
        "summary": summary,
        "ratio": mmar_s / hand_s,
        "paired_ratio": paired_ratio(measurements, "mmar", "handwritten", "total_s"),
        "difference_s": paired_difference(measurements, "mmar", "handwritten", "total_s"),
        "measurements": as_rows(measurements),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="counted repetitions per point (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds per point (default 1)")
    parser.add_argument("--epochs", type=int, nargs="+", default=list(EPOCH_POINTS), help="epoch sweep points")
    parser.add_argument("--train-cases", type=int, nargs="+", default=list(DATA_POINTS), help="data sweep points")
    parser.add_argument("--out", type=Path, default=None, help="raw results JSON (default bench/results/scaling.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = Sizes()
    epochs_sweep: list[dict[str, Any]] = []
    data_sweep: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mmar-bench-scaling-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        for epochs in args.epochs:
            epochs_sweep.append(sweep_point(workspace, replace(base, epochs=epochs), args.reps, args.warmup, f"epochs={epochs}"))
        for cases in args.train_cases:
            sizes = replace(base, epochs=DATA_SWEEP_EPOCHS, train_cases=cases)
            data_sweep.append(sweep_point(workspace, sizes, args.reps, args.warmup, f"train_cases={cases}"))
    log("\n| sweep | point | mmar s | hand-written s | ratio | paired ratio | difference s |\n|---|---:|---:|---:|---:|---:|---:|")
    for sweep, points, key in (("epochs", epochs_sweep, "epochs"), ("train volumes", data_sweep, "train_cases")):
        for p in points:
            log(f"| {sweep} | {p[key]} | {p['summary']['mmar']['median_total_s']:.2f} | {p['summary']['handwritten']['median_total_s']:.2f} "
                f"| {p['ratio']:.3f} | {p['paired_ratio']:.3f} | {p['difference_s']:+.2f} |")
    write_result("scaling", {"reps": args.reps, "warmup_rounds": args.warmup, "data_sweep_epochs": DATA_SWEEP_EPOCHS,
                             "epochs_sweep": epochs_sweep, "data_sweep": data_sweep}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
