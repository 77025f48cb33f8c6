"""Determinism cost: ``mmar train`` with every pin (the default) vs the fast, non-deterministic settings.

Both variants seed everything; they differ in what trades reproducibility for speed:

* ``deterministic`` (default): ``torch.use_deterministic_algorithms(True)`` strict, cuDNN
  deterministic with benchmarking off, TF32 off;
* ``nondeterministic``: ``--set deterministic_algorithms=False cudnn_benchmark=True tf32=True``.

On CPU only the first setting acts (there is no cuDNN, and TF32 is a GPU format), so the figure
here is the cost of strict mode on CPU kernels. On a GPU all three act. The variants alternate in
fresh processes (median of ``--reps``); each run's weights digest is recorded, so the table also
shows whether each setting gave the same weights in every repetition.

    .venv/bin/python bench/bench_determinism.py --reps 5 --epochs 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness import alternate, as_rows, log, paired_ratio, summarize, write_result
from pipelines import Sizes, mmar_command, prepare_workspace

FAST_SETTINGS = ("deterministic_algorithms=False", "cudnn_benchmark=True", "tf32=True")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="counted repetitions of each variant (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per run (default 10)")
    parser.add_argument("--out", type=Path, default=None, help="raw results JSON (default bench/results/determinism.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes(epochs=args.epochs)
    with tempfile.TemporaryDirectory(prefix="mmar-bench-det-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        commands = {
            "deterministic": mmar_command(workspace, sizes, label="deterministic"),
            "nondeterministic": mmar_command(workspace, sizes, label="nondeterministic", extra_set=FAST_SETTINGS),
        }
        measurements = alternate(commands, args.reps, args.warmup, label="determinism")
    summary = summarize(measurements)
    digests = {v: sorted({m.weights_digest for m in measurements if m.variant == v and m.weights_digest}) for v in commands}
    ratio = paired_ratio(measurements, "deterministic", "nondeterministic", "total_s")
    log("\n| settings | median total s | min s | max s | distinct weights digests |\n|---|---:|---:|---:|---:|")
    for variant, row in summary.items():
        log(f"| {variant} | {row['median_total_s']:.2f} | {row['min_total_s']:.2f} | {row['max_total_s']:.2f} | {len(digests[variant])} |")
    log(f"\ndeterministic / nondeterministic total time: {ratio:.3f} (median of per-repetition ratios)")
    write_result("determinism", {
        "reps": args.reps, "warmup_rounds": args.warmup, "sizes": asdict(sizes), "fast_settings": list(FAST_SETTINGS),
        "summary": summary, "paired_deterministic_over_nondeterministic": ratio, "weights_digests": digests,
        "measurements": as_rows(measurements),
    }, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
