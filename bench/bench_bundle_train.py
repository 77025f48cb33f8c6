"""``mmar train BUNDLE`` vs ``python -m monai.bundle run`` on the same MONAI bundle, data and overrides.

The bundle is bench/monai_bundle (the spleen pipeline at the demo sizes, with the first-iteration
probe among its train handlers); each run is a fresh process, the two variants alternate inside
one run (the order rotates every repetition). Per run: wall time, launch to first completed
training iteration, peak resident memory. What mmar adds around MONAI's own run: the static check
before anything runs, the pins, the data digest, the manifest, resume checkpoints.

Goal (issue 18): what the runner adds is small next to training: mmar / monai.bundle total
time close to 1; the first iteration's delay, in seconds, says what the check and the pins cost.

    .venv/bin/python bench/bench_bundle_train.py --reps 3 --epochs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness import alternate, as_rows, log, paired_ratio, summarize, timing_table, write_result
from pipelines import Sizes, mmar_bundle_command, monai_bundle_command, prepare_workspace

MMAR, MONAI = "mmar_bundle", "monai_bundle"


def render(summary: dict[str, dict[str, float | None]], ratios: dict[str, float]) -> str:
    lines = timing_table(summary)
    lines += ["", f"mmar train BUNDLE / monai.bundle run, total: {ratios['total']:.3f} (paired {ratios['paired_total']:.3f}); "
              f"first iteration {ratios['first_iteration']:.3f}x ({ratios['first_iteration_delta_s']:+.2f} s); "
              f"peak memory {ratios['peak_rss']:.3f}x"]
    return "\n".join(lines)


def ratios_of(summary: dict[str, dict[str, float | None]], measurements: list) -> dict[str, float]:
    def median(variant: str, key: str) -> float:
        value = summary[variant][key]
        assert value is not None, f"{variant} has no {key}"
        return value

    return {
        "total": median(MMAR, "median_total_s") / median(MONAI, "median_total_s"),
        "paired_total": paired_ratio(measurements, MMAR, MONAI, "total_s"),
        "first_iteration": median(MMAR, "median_first_iteration_s") / median(MONAI, "median_first_iteration_s"),
        "first_iteration_delta_s": median(MMAR, "median_first_iteration_s") - median(MONAI, "median_first_iteration_s"),
        "peak_rss": median(MMAR, "median_peak_rss_mb") / median(MONAI, "median_peak_rss_mb"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="counted repetitions of each variant (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs per run (default 5)")
    parser.add_argument("--out", type=Path, default=None, help="raw results JSON (default bench/results/bundle_train.json)")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.epochs < 1:
        parser.error("--reps and --epochs must be at least 1")
    sizes = Sizes(epochs=args.epochs)
    with tempfile.TemporaryDirectory(prefix="mmar-bench-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        commands = {MMAR: mmar_bundle_command(workspace, sizes), MONAI: monai_bundle_command(workspace, sizes)}
        measurements = alternate(commands, args.reps, args.warmup, label="bundle train")
    summary = summarize(measurements)
    ratios = ratios_of(summary, measurements)
    log("\n" + render(summary, ratios))
    write_result("bundle_train", {"reps": args.reps, "warmup_rounds": args.warmup, "sizes": asdict(sizes),
                                  "commands": {name: c.argv for name, c in commands.items()}, "summary": summary,
                                  "ratios": ratios, "measurements": as_rows(measurements)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
