"""Runner overhead: ``mmar train`` vs the same pipeline hand-written in MONAI vs ``python -m monai.bundle run``.

Three ways to train the spleen_ct_seg pipeline at the demo sizes, each in a fresh process, the
variants alternating inside one run (the order rotates every repetition), plus ``mmar check`` in
the same rotation. Per run: wall time, launch to first completed training iteration (the same
``bench_probe.FirstIterationProbe`` in every variant), and peak resident memory.

Goals (issue 7): mmar total time within 5% of hand-written; mmar first iteration no later than
the MONAI bundle's.

A fourth training variant, ``mmar_plain_gc``, is ``mmar train`` with ``MMAR_GC_TUNING=0``: the
runner with the interpreter's default garbage collection, like the two baselines. The difference
between the two mmar rows is what the collector settings (runner/collector.py) buy; the difference
between ``mmar_plain_gc`` and the hand-written script is the cost of everything else mmar does.

    .venv/bin/python bench/bench_overhead.py --reps 5 --epochs 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness import Measurement, alternate, as_rows, log, paired_ratio, summarize, timing_table, write_result
from pipelines import Sizes, check_command, handwritten_command, mmar_command, monai_bundle_command, prepare_workspace

GOAL_TOTAL_RATIO = 1.05
CHECK = "mmar_check"
PLAIN_GC = "mmar_plain_gc"


def goal_ratios(summary: dict[str, dict[str, float | None]], measurements: list[Measurement]) -> dict[str, float]:
    """The goal figures, as ratios of medians and as medians of per-repetition ratios."""
    def median(variant: str, key: str) -> float:
        value = summary[variant][key]
        assert value is not None, f"{variant} has no {key}"
        return value

    return {
        "mmar_over_handwritten_total": median("mmar", "median_total_s") / median("handwritten", "median_total_s"),
        "paired_mmar_over_handwritten_total": paired_ratio(measurements, "mmar", "handwritten", "total_s"),
        "mmar_over_monai_bundle_total": median("mmar", "median_total_s") / median("monai_bundle", "median_total_s"),
        "mmar_over_monai_bundle_first_iteration": (median("mmar", "median_first_iteration_s")
                                                   / median("monai_bundle", "median_first_iteration_s")),
        "paired_mmar_over_monai_bundle_first_iteration": paired_ratio(measurements, "mmar", "monai_bundle", "first_iteration_s"),
        "mmar_minus_monai_bundle_first_iteration_s": (median("mmar", "median_first_iteration_s")
                                                      - median("monai_bundle", "median_first_iteration_s")),
        "mmar_over_handwritten_first_iteration": (median("mmar", "median_first_iteration_s")
                                                  / median("handwritten", "median_first_iteration_s")),
        "mmar_over_handwritten_peak_rss": median("mmar", "median_peak_rss_mb") / median("handwritten", "median_peak_rss_mb"),
        "plain_gc_over_handwritten_total": median(PLAIN_GC, "median_total_s") / median("handwritten", "median_total_s"),
        "paired_plain_gc_over_handwritten_total": paired_ratio(measurements, PLAIN_GC, "handwritten", "total_s"),
        "plain_gc_minus_monai_bundle_first_iteration_s": (median(PLAIN_GC, "median_first_iteration_s")
                                                          - median("monai_bundle", "median_first_iteration_s")),
        "plain_gc_over_handwritten_peak_rss": median(PLAIN_GC, "median_peak_rss_mb") / median("handwritten", "median_peak_rss_mb"),
        "mmar_over_monai_bundle_peak_rss": median("mmar", "median_peak_rss_mb") / median("monai_bundle", "median_peak_rss_mb"),
    }


def render(summary: dict[str, dict[str, float | None]], ratios: dict[str, float]) -> str:
    """The table and goal lines printed at the end (docs/BENCHMARKS.md is made by bench/report.py)."""
    lines = timing_table(summary)
    total = ratios["mmar_over_handwritten_total"]
    delta = ratios["mmar_minus_monai_bundle_first_iteration_s"]
    lines += [
        "",
        f"mmar / handwritten total: {total:.3f} (paired {ratios['paired_mmar_over_handwritten_total']:.3f}); "
        f"goal <= {GOAL_TOTAL_RATIO}: {'met' if total <= GOAL_TOTAL_RATIO else 'NOT met'}",
        f"mmar vs monai_bundle first iteration: {ratios['mmar_over_monai_bundle_first_iteration']:.3f}x ({delta:+.2f} s); "
        f"goal not slower: {'met' if delta <= 0 else 'NOT met'}",
        f"peak memory mmar / handwritten: {ratios['mmar_over_handwritten_peak_rss']:.3f}",
        f"with MMAR_GC_TUNING=0: total / handwritten {ratios['plain_gc_over_handwritten_total']:.3f} "
        f"(paired {ratios['paired_plain_gc_over_handwritten_total']:.3f}), first iteration vs monai_bundle "
        f"{ratios['plain_gc_minus_monai_bundle_first_iteration_s']:+.2f} s",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="counted repetitions of every variant (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per run (default 10)")
    parser.add_argument("--out", type=Path, default=None, help="raw results JSON (default bench/results/overhead.json)")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.epochs < 1:
        parser.error("--reps and --epochs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes(epochs=args.epochs)
    with tempfile.TemporaryDirectory(prefix="mmar-bench-") as tmp:
        workspace = prepare_workspace(Path(tmp))
        commands = {
            "mmar": mmar_command(workspace, sizes),
            PLAIN_GC: mmar_command(workspace, sizes, label=PLAIN_GC, env={"MMAR_GC_TUNING": "0"}),
            "handwritten": handwritten_command(workspace, sizes),
            "monai_bundle": monai_bundle_command(workspace, sizes),
            CHECK: check_command(workspace, sizes),
        }
        measurements = alternate(commands, args.reps, args.warmup, label="overhead")
    summary = summarize(measurements)
    ratios = goal_ratios(summary, measurements)
    log("\n" + render(summary, ratios))
    write_result("overhead", {
        "reps": args.reps, "warmup_rounds": args.warmup, "sizes": asdict(sizes),
        "commands": {name: c.argv for name, c in commands.items()},
        "summary": summary, "ratios": ratios, "goal_mmar_over_handwritten_total": GOAL_TOTAL_RATIO,
        "measurements": as_rows(measurements),
    }, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
