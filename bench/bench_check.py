"""Config size: ``mmar check`` on configs of 10, 100 and 1000 components.

Each config is a valid train config: model, loss, optimizer, dataset, data loader, inferer,
trainer and one LoadImaged (8 components), then enough further dictionary transforms in
``pre_transforms`` (cycling through several classes, each with arguments) to reach the size. Every
component is resolved, its arguments bound to the class signature, and its references checked,
exactly as before a training run. Two figures per size, median of ``--reps``:

* ``mmar check`` as a fresh process (what a user waits for, torch and MONAI imports included),
  the sizes alternating;
* loading and checking in this process with the imports already paid (``load_config`` +
  ``check_mmar``), which isolates the cost that grows with the config.

The marginal cost per component is the slope between the smallest and the largest config.

    .venv/bin/python bench/bench_check.py --reps 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import MMAR_CLI, REPO, Command, alternate, as_rows, log, run_checked, summarize, write_result

SIZES = (10, 100, 1000)
FILLERS: tuple[dict[str, Any], ...] = (
    {"name": "EnsureChannelFirstd", "args": {"keys": ["image", "label"]}},
    {"name": "ScaleIntensityRanged", "args": {"keys": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True}},
    {"name": "RandShiftIntensityd", "args": {"keys": "image", "offsets": 0.1, "prob": 0.5}},
    {"name": "CastToTyped", "args": {"keys": ["image", "label"], "dtype": "float32"}},
    {"name": "Identityd", "args": {"keys": ["image", "label"]}},
)
BASE_COMPONENTS = 8


def config_with(components: int) -> dict[str, Any]:
    """A train config with exactly ``components`` components (``name`` or ``path`` entries)."""
    if components < BASE_COMPONENTS:
        raise ValueError(f"a train config needs at least {BASE_COMPONENTS} components here")
    fillers = [FILLERS[i % len(FILLERS)] for i in range(components - BASE_COMPONENTS)]
    return {
        "epochs": 1,
        "learning_rate": 1e-3,
        "determinism": {"random_seed": 0},
        "train": {
            "loss": {"name": "DiceLoss", "args": {"to_onehot_y": True, "softmax": True}},
            "optimizer": {"name": "Adam", "args": {"lr": "{learning_rate}"}},
            "model": {"name": "UNet", "args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                                               "channels": [4, 8, 16], "strides": [2, 2]}},
            "pre_transforms": [{"name": "LoadImaged", "args": {"keys": ["image", "label"]}}, *fillers],
            "dataset": {"name": "Dataset", "data_list_file_path": "{DATASET_JSON}", "data_file_base_dir": "{DATA_ROOT}",
                        "data_list_key": "training", "args": {}},
            "dataloader": {"name": "DataLoader", "args": {"batch_size": 1, "shuffle": True, "num_workers": 0}},
            "inferer": {"name": "SimpleInferer"},
            "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{epochs}"}},
        },
    }


def count_components(value: Any) -> int:
    """``name``/``path`` dictionaries anywhere in a config."""
    if isinstance(value, dict):
        own = 1 if "name" in value or "path" in value else 0
        return own + sum(count_components(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_components(v) for v in value)
    return 0


def write_mmar(root: Path, components: int, data: Path) -> Path:
    (root / "config").mkdir(parents=True)
    config = config_with(components)
    assert count_components(config) == components, (count_components(config), components)
    (root / "config" / "config_train.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    environment = {"DATA_ROOT": str(data), "DATASET_JSON": str(data / "dataset.json")}
    (root / "config" / "environment.json").write_text(json.dumps(environment), encoding="utf-8")
    return root


def in_process_seconds(root: Path, reps: int) -> list[float]:
    """Wall time of load + check of one MMAR inside this process (imports paid by an uncounted first call)."""
    sys.path.insert(0, str(REPO))
    from runner.components.check import check_mmar
    from runner.config.load import load_config

    timings = []
    for rep in range(reps + 1):
        started = time.perf_counter()
        check_mmar(load_config(root, None, None, [], strict=False, kind=None))
        if rep:
            timings.append(time.perf_counter() - started)
    return timings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="counted repetitions per size (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="component counts")
    parser.add_argument("--out", type=Path, default=None, help="raw results JSON (default bench/results/check.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mmar-bench-check-") as tmp:
        data = Path(tmp) / "data"
        run_checked([MMAR_CLI, "synthetic-data", str(data), "--train-cases", "2", "--val-cases", "1"], "mmar synthetic-data")
        roots = {n: write_mmar(Path(tmp) / f"mmar{n}", n, data) for n in args.sizes}
        commands = {f"{n} components": Command([MMAR_CLI, "check", str(root)]) for n, root in roots.items()}
        measurements = alternate(commands, args.reps, args.warmup, label="check")
        in_process = {n: in_process_seconds(root, args.reps) for n, root in roots.items()}
    summary = summarize(measurements)
    points = [{"components": n, **summary[f"{n} components"], "in_process_s": in_process[n],
               "median_in_process_s": statistics.median(in_process[n])} for n in args.sizes]
    smallest, largest = points[0], points[-1]
    slope_ms = None
    if largest["components"] > smallest["components"]:
        span = largest["components"] - smallest["components"]
        slope_ms = 1000 * (largest["median_in_process_s"] - smallest["median_in_process_s"]) / span
    log("\n| components | mmar check s (process) | min s | max s | load + check in process s | peak RSS MB |"
        "\n|---:|---:|---:|---:|---:|---:|")
    for p in points:
        log(f"| {p['components']} | {p['median_total_s']:.2f} | {p['min_total_s']:.2f} | {p['max_total_s']:.2f} "
            f"| {p['median_in_process_s']:.3f} | {p['median_peak_rss_mb']:.0f} |")
    if slope_ms is not None:
        log(f"\nmarginal cost: {slope_ms:.2f} ms per component (in process)")
    write_result("check", {"reps": args.reps, "warmup_rounds": args.warmup, "points": points,
                           "marginal_ms_per_component": slope_ms, "measurements": as_rows(measurements)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
