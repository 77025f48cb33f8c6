"""Turn bench/results/*.json into the plots and tables of docs/BENCHMARKS.md.

The figures in the docs are never typed by hand: each generated block sits between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` markers and is replaced here; the prose around
them is ours. Plots are PNG files under docs/img/, drawn with matplotlib from the same numbers.
A result file that is missing (a benchmark not run, e.g. the image one without a Docker engine)
leaves its block as it was and says so. The GPU block is the exception: its result comes from a
borrowed GPU machine (bench/gpu/), is kept in the tree at ``bench/gpu/results/gpu.json``, and the
block says plainly when no GPU run exists.

    .venv/bin/python bench/report.py [--results DIR] [--doc FILE] [--img DIR] [--gpu-kept FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "BENCHMARKS.md"
IMG = REPO / "docs" / "img"
GPU_KEPT = REPO / "bench" / "gpu" / "results" / "gpu.json"
GOAL_TOTAL_RATIO = 1.05


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def cell(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# ---- tables ----------------------------------------------------------------------------------
def machine_block(result: dict[str, Any]) -> str:
    m = result["machine"]
    v = m["versions"]
    gpu = m["gpu"] or "no GPU"
    return (f"Machine: {m['cpu_model']}, {m['cpus_usable']} usable cores, {m['memory_gib']} GiB, {gpu}; {m['platform']}; "
            f"Python {m['python']}, torch {v['torch']}, MONAI {v['monai']}, pytorch-ignite {v['pytorch-ignite']}. "
            f"Finished {result['finished_at']}.")


def overhead_block(result: dict[str, Any]) -> str:
    s, r = result["summary"], result["ratios"]
    lines = [machine_block(result), "",
             f"{result['reps']} counted repetitions after {result['warmup_rounds']} warm-up round; "
             f"{result['sizes']['epochs']} epochs, {result['sizes']['train_cases']} training volumes.", "",
             "| variant | median total s | min s | max s | median time to first iteration s | median peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|"]
    names = {"mmar": "`mmar train`", "handwritten": "hand-written MONAI", "monai_bundle": "`python -m monai.bundle run`",
             "mmar_check": "`mmar check`", "mmar_plain_gc": "`mmar train`, `MMAR_GC_TUNING=0`"}
    for variant, row in s.items():
        lines.append(f"| {names.get(variant, variant)} | {cell(row['median_total_s'])} | {cell(row['min_total_s'])} | "
                     f"{cell(row['max_total_s'])} | {cell(row['median_first_iteration_s'])} | {cell(row['median_peak_rss_mb'], 0)} |")
    total, delta = r["mmar_over_handwritten_total"], r["mmar_minus_monai_bundle_first_iteration_s"]
    lines += ["", "| goal | result | status |", "|---|---|---|",
              f"| total wall time, mmar / hand-written ≤ {GOAL_TOTAL_RATIO} | **{total:.3f}** (ratio of medians); "
              f"{r['paired_mmar_over_handwritten_total']:.3f} (median of per-repetition ratios) | "
              f"{'met' if total <= GOAL_TOTAL_RATIO else '**not met**'} |",
              f"| time to first iteration, mmar not later than the MONAI bundle | **{r['mmar_over_monai_bundle_first_iteration']:.3f}×**, "
              f"{delta:+.2f} s (per-repetition median {r['paired_mmar_over_monai_bundle_first_iteration']:.3f}×) | "
              f"{'met' if delta <= 0 else '**not met**'} |",
              f"| peak memory, mmar / hand-written | {r['mmar_over_handwritten_peak_rss']:.3f} "
              f"(mmar / MONAI bundle {r['mmar_over_monai_bundle_peak_rss']:.3f}) | (no goal) |"]
    if "plain_gc_over_handwritten_total" in r:
        plain, plain_delta = r["plain_gc_over_handwritten_total"], r["plain_gc_minus_monai_bundle_first_iteration_s"]
        lines += [f"| the same two goals with `MMAR_GC_TUNING=0` | total **{plain:.3f}** "
                  f"(per-repetition {r['paired_plain_gc_over_handwritten_total']:.3f}); first iteration {plain_delta:+.2f} s "
                  f"vs the MONAI bundle; peak memory {r['plain_gc_over_handwritten_peak_rss']:.3f} | "
                  f"total {'met' if plain <= GOAL_TOTAL_RATIO else '**not met**'}, "
                  f"first iteration {'met' if plain_delta <= 0 else '**not met**'} |"]
    return "\n".join(lines)


def scaling_block(result: dict[str, Any]) -> str:
    lines = [machine_block(result), "",
             f"{result['reps']} counted repetitions per point; the data sweep trains {result['data_sweep_epochs']} epochs.", "",
             "| sweep | point | mmar s | hand-written s | ratio of medians | per-repetition ratio | difference s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for sweep, key, points in (("epochs", "epochs", result["epochs_sweep"]), ("training volumes", "train_cases", result["data_sweep"])):
        for p in points:
            s = p["summary"]
            lines.append(f"| {sweep} | {p[key]} | {cell(s['mmar']['median_total_s'])} | {cell(s['handwritten']['median_total_s'])} | "
                         f"{p['ratio']:.3f} | {p['paired_ratio']:.3f} | {p['difference_s']:+.2f} |")
    return "\n".join(lines)


def check_block(result: dict[str, Any]) -> str:
    lines = [machine_block(result), "", f"{result['reps']} counted repetitions per size.", "",
             "| components | `mmar check` process, median s | min s | max s | load + check in process, median ms | peak RSS MB |",
             "|---:|---:|---:|---:|---:|---:|"]
    for p in result["points"]:
        lines.append(f"| {p['components']} | {cell(p['median_total_s'])} | {cell(p['min_total_s'])} | {cell(p['max_total_s'])} | "
                     f"{p['median_in_process_s'] * 1000:.1f} | {cell(p['median_peak_rss_mb'], 0)} |")
    if result.get("marginal_ms_per_component") is not None:
        lines += ["", f"Marginal cost: **{result['marginal_ms_per_component']:.3f} ms per component** (in process)."]
    return "\n".join(lines)


def determinism_block(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [machine_block(result), "",
             f"{result['reps']} counted repetitions; {result['sizes']['epochs']} epochs; fast settings: "
             f"`{' '.join(result['fast_settings'])}`.", "",
             "| settings | median total s | min s | max s | distinct weights digests over the repetitions |", "|---|---:|---:|---:|---:|"]
    for variant, row in s.items():
        lines.append(f"| {variant} | {cell(row['median_total_s'])} | {cell(row['min_total_s'])} | {cell(row['max_total_s'])} | "
                     f"{len(result['weights_digests'][variant])} |")
    medians = s["deterministic"]["median_total_s"] / s["nondeterministic"]["median_total_s"]
    lines += ["", f"Deterministic / non-deterministic wall time: **{result['paired_deterministic_over_nondeterministic']:.3f}** "
                  f"(median of per-repetition ratios); {medians:.3f} as a ratio of medians."]
    return "\n".join(lines)


def bundle_train_block(result: dict[str, Any]) -> str:
    """``mmar train BUNDLE`` against ``python -m monai.bundle run`` on the same bundle."""
    s, r = result["summary"], result["ratios"]
    lines = [machine_block(result), "",
             f"{result['reps']} counted repetitions after {result['warmup_rounds']} warm-up round(s); {result['sizes']['epochs']} "
             f"epochs at the demo sizes, {result['sizes']['train_cases']} training cases.", "",
             "| variant | median total s | min s | max s | first iteration s | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    names = {"mmar_bundle": "`mmar train BUNDLE`", "monai_bundle": "`python -m monai.bundle run`"}
    for variant, row in s.items():
        lines.append(f"| {names.get(variant, variant)} | {cell(row['median_total_s'])} | {cell(row['min_total_s'])} | "
                     f"{cell(row['max_total_s'])} | {cell(row['median_first_iteration_s'])} | {cell(row['median_peak_rss_mb'], 0)} |")
    lines += ["", f"mmar / monai.bundle total: **{r['total']:.3f}** (median of per-repetition ratios {r['paired_total']:.3f}); "
                  f"first iteration {r['first_iteration']:.3f}x ({r['first_iteration_delta_s']:+.2f} s); peak memory {r['peak_rss']:.3f}x."]
    return "\n".join(lines)


def data_digest_block(result: dict[str, Any]) -> str:
    """First (cold and warm page cache) and cached digest cost per data set, against the demo's training time."""
    train_s = (result.get("train_baseline") or {}).get("seconds")
    lines = [machine_block(result), "",
             f"{result['sets'][next(iter(result['sets']))]['reps']} repetition(s) (cached: 3 per repetition); {result['workers']} hashing "
             f"threads; page cache emptied before the cold run by {result['eviction']}; "
             + (f"the demo's `mmar train` (the Makefile's settings) took **{train_s:.1f} s** in the same session." if train_s
                else "no training baseline in this run."), "",
             "| data set | files | GB | first, cold s | first, warm s | cached s | cold MB/s | cached µs per file "
             "| first cold / training | cached / training |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in result["sets"].items():
        m = row["median_s"]
        shares = [f"{m[k] / train_s:.2%}" if train_s else "n/a" for k in ("first_cold", "cached")]
        lines.append(f"| {name} | {row['files']} | {row['bytes'] / 1e9:.3f} | {cell(m['first_cold'])} | {cell(m['first_warm'])} | "
                     f"{cell(m['cached'], 3)} | {row['first_cold_mb_per_s']:.0f} | {row['cached_us_per_file']:.0f} | {shares[0]} | {shares[1]} |")
    return "\n".join(lines)


def image_block(result: dict[str, Any]) -> str:
    m = result["cold_start_median"]
    lines = [machine_block(result), "", f"{result['engine']}; base `{result['base_image']}`; {result['reps']} repetitions, medians.", "",
             "| measure | result |", "|---|---|",
             f"| runtime stage, `--no-cache` | {result['median_runtime_build_no_cache_s']} s (runs: {result['runtime_build_no_cache_s']}) |",
             f"| runtime image size | {result['runtime_image_bytes'] / 1e6:.0f} MB |",
             f"| bundle stage of spleen_ct_seg, runtime cached (first build) | {result['bundle_build_spleen_s']} s, "
             f"one layer of {result['bundle_layer_spleen_bytes'] / 1e3:.0f} kB |",
             f"| rebuild after editing one custom/ file (byoc_shutdown) | {result['median_rebuild_after_custom_edit_s']} s "
             f"(runs: {result['rebuild_after_custom_edit_s']}), one layer of {result['bundle_layer_byoc_shutdown_bytes'] / 1e3:.0f} kB |",
             f"| launch to first iteration, host / container | {m['host_first']} s / {m['container_first']} s "
             f"({m['container_first'] / m['host_first']:.2f}×) |",
             f"| one-epoch run end to end, host / container | {m['host_total']} s / {m['container_total']} s "
             f"({m['container_total'] / m['host_total']:.2f}×) |"]
    return "\n".join(lines)


FLAVOUR_RUNS = [(flavour, base) for flavour in ("cuda", "cpu") for base in ("bookworm", "trixie")]


def flavour_cell(result: dict[str, Any] | None, measure: Any) -> str:
    if result is None:
        return "not run"
    if "blocked" in result:
        return "blocked" if measure is not None else result["blocked"].splitlines()[0]
    try:
        return str(measure(result))
    except (KeyError, TypeError):
        return "n/a"


def _train_cell(run: dict[str, Any]) -> str:
    outcome = "trains" if run["exit_code"] == 0 else f"exit {run['exit_code']}"
    return f"{outcome}, {run['seconds']} s"


def image_flavours_block(results: dict[str, dict[str, Any] | None]) -> str:
    """``bench_image.py --flavour F --base B``: the no-flags network build of each flavour on each Debian base."""
    found = [r for r in results.values() if r is not None]
    if not found:
        return "Not run yet: `bench/bench_image.py --flavour cuda|cpu --base bookworm|trixie`."
    runs = {(f, b): results[f"image_{f}_{b}"] for f, b in FLAVOUR_RUNS}
    measures = [
        ("base Python", lambda r: r["base_python"]),
        ("runtime stage, `--no-cache`, from PyPI", lambda r: f"{r['runtime_build_no_cache_s']} s"),
        ("image size", lambda r: f"{r['runtime_image_bytes'] / 1e9:.2f} GB"),
        ("rebuild after a custom/ edit (median)", lambda r: f"{r['median_rebuild_after_custom_edit_s']} s"),
        ("the layer a custom/ edit changes", lambda r: f"{r['custom_edit_layer_bytes'] / 1e3:.1f} kB"),
        ("torch in the image", lambda r: r["torch_in_image"]["torch"]),
        ("`docker run` with the demo's `use_gpu: true`, no GPU", lambda r: _train_cell(r["train_use_gpu_default"])),
        ("`docker run ... --set use_gpu=False`, no GPU", lambda r: _train_cell(r["train_use_gpu_false"])),
        ("weights digest", lambda r: f"`{r['train_use_gpu_false']['weights_digest'][:19]}…`"),
    ]
    lines = [machine_block(found[0]), "", f"{found[0]['engine']}; our Debian bases (debootstrap + `docker import`).", "",
             "| measure | " + " | ".join(f"{f.upper()} {b}" for f, b in FLAVOUR_RUNS) + " |",
             "|---|" + "---|" * len(FLAVOUR_RUNS)]
    for label, measure in measures:
        lines.append(f"| {label} | " + " | ".join(flavour_cell(runs[key], measure) for key in FLAVOUR_RUNS) + " |")
    for key in FLAVOUR_RUNS:
        if runs[key] is not None and "blocked" in runs[key]:
            lines += ["", f"{key[0].upper()} {key[1]}, blocked: {flavour_cell(runs[key], None)}"]
    return "\n".join(lines)


# ---- GPU check (bench/gpu/) ------------------------------------------------------------------
GPU_HOW = "`make gpu-prepare` here, then `bash bench/gpu/run.sh \"$OUT\"` on the GPU machine (bench/gpu/README.md)"
GPU_VARIANTS = {"mmar": "`mmar train` (AMP off)", "handwritten": "hand-written MONAI (AMP off)",
                "mmar_nondeterministic": "`mmar train`, `deterministic_algorithms=False`"}


def pick_gpu_result(results: Path, kept: Path = GPU_KEPT) -> tuple[dict[str, Any] | None, Path | None]:
    """A CUDA run beats a CPU one: ``results/gpu.json`` if it ran on CUDA, else the kept GPU result, else a CPU run."""
    found = [(json.loads(path.read_text(encoding="utf-8")), path) for path in (results / "gpu.json", kept) if path.is_file()]
    for result, path in found:
        if result.get("device_requested") == "cuda":
            return result, path
    return found[0] if found else (None, None)


def gpu_device_line(result: dict[str, Any]) -> str:
    """The device in words, from the run manifest's fingerprint (CPU runs say CPU, loudly)."""
    f = result.get("device_fingerprint") or {}
    m = result["machine"]
    used = {name: info.get("version") for name, info in result["environment"]["versions"].items()}
    libraries = (f"Python {used.get('python')}, torch {used.get('torch')}, MONAI {used.get('monai')}, "
                 f"pytorch-ignite {used.get('pytorch-ignite')}")
    if result.get("device_requested") != "cuda":
        return (f"**Device: CPU** ({m['cpu_model']}, {m['cpus_usable']} usable cores), `--device cpu --scale {result['scale']}`: "
                f"a smoke run of the script, **not GPU figures**. {libraries}. Finished {result['finished_at']}.")
    smi = f.get("nvidia_smi") or {}
    memory = f"{f['gpu_memory_bytes'] / 2**30:.0f} GiB" if f.get("gpu_memory_bytes") else smi.get("memory.total", "memory n/a")
    return (f"**Device: {f.get('gpu_name') or m.get('gpu')}** (compute capability {f.get('gpu_capability')}, {f.get('gpu_sm_count')} SMs, "
            f"{memory}; driver {f.get('driver') or smi.get('driver_version')}, CUDA {f.get('torch_cuda')}, cuDNN {f.get('cudnn')}); "
            f"host {m['cpu_model']}, {m['cpus_usable']} usable cores. {libraries}. Finished {result['finished_at']}.")


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def gpu_block(result: dict[str, Any] | None) -> str:
    """The GPU section's generated part: a plain 'not yet' until a CUDA run exists; a CPU run is labelled as such."""
    if result is None:
        return (f"**Not run on a GPU yet.** No GPU machine has been lent to this project's sessions so far, so there are "
                f"no GPU figures here. The check is ready: {GPU_HOW}.")
    lines = [] if result.get("device_requested") == "cuda" else [
        f"**Not run on a GPU yet.** The figures below are from the CPU smoke run of the same script, to show its "
        f"output; they say nothing about a GPU. On a GPU machine: {GPU_HOW}.", ""]
    s = result["sizes"]
    lines += [gpu_device_line(result), "",
              f"Sizes: patch {'×'.join(map(str, s['patch_size']))}, UNet channels {'-'.join(map(str, s['channels']))}, "
              f"{s['num_samples']} samples per volume, batch {s['batch_size']}, {s['num_workers']} loader workers; "
              f"{s['train_cases']} synthetic training volumes of {'×'.join(map(str, result['data_shape']))}, "
              f"{s['epochs']} epochs per timed run; `mmar verify` trains {result['verify_iterations']} iterations per run. "
              f"Whole check: {result['total_s']:.0f} s.", ""]
    lines += ["| `mmar verify` | verdict | first diverging tensor | tensors differing | AMP in force | wall s |", "|---|---|---|---:|---|---:|"]
    for key, label in (("verify_amp_off", "AMP off"), ("verify_amp_on", "AMP on")):
        v = result.get(key)
        if v is None:
            lines.append(f"| {label} | not measured | | | | |")
            continue
        lines.append(f"| {label} | **{v['verdict']}** | {v['first_diverging_tensor'] or '—'} | {v['differing_tensors']} of {v['tensors']} | "
                     f"{'yes' if (v.get('amp') or {}).get('in_force') else 'no'} | {v['wall_s']:.1f} |")
    t = result.get("throughput")
    if t is not None:
        lines += ["", f"{t['reps']} repetitions, alternated in a rotating order, fresh processes, medians "
                      f"({t['warmup_rounds']} warm-up rounds; the verify runs come first).", "",
                  "| variant | median total s | min s | max s | median time to first iteration s | median iterations/s | "
                  "peak GPU memory allocated / reserved MB | distinct weights digests |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, row in t["summary"].items():
            digests = len(row["weights_digests"]) if name != "handwritten" else "—"
            lines.append(f"| {GPU_VARIANTS.get(name, name)} | {cell(row['median_total_s'])} | {cell(row['min_total_s'])} | "
                         f"{cell(row['max_total_s'])} | {cell(row['median_first_iteration_s'])} | {cell(row['median_iterations_per_s'])} | "
                         f"{_mb(row['max_memory_allocated_mb'])} / {_mb(row['max_memory_reserved_mb'])} | {digests} |")
        r = t["ratios"]
        lines += ["", "| ratio (median of per-repetition ratios) | value |", "|---|---:|",
                  f"| total wall time, mmar / hand-written | {cell(r['mmar_over_handwritten_total'], 3)} |",
                  f"| iterations/s, mmar / hand-written | {cell(r['mmar_over_handwritten_iterations_per_s'], 3)} |",
                  f"| time to first iteration, mmar / hand-written | {cell(r['mmar_over_handwritten_first_iteration'], 3)} |",
                  f"| total wall time, deterministic / `deterministic_algorithms=False` | "
                  f"{cell(r['deterministic_over_nondeterministic_total'], 3)} |",
                  f"| iterations/s, `deterministic_algorithms=False` / deterministic | "
                  f"{cell(r['nondeterministic_over_deterministic_iterations_per_s'], 3)} |"]
        for name, error in t.get("failed", {}).items():
            lines += ["", f"Variant {GPU_VARIANTS.get(name, name)} failed and was dropped from the rotation: `{error.splitlines()[0]}`"]
    differing = {n: row for n, row in result["environment"]["against_lock"].items() if not row["same"]}
    if differing:
        lines += ["", "Not the lock's versions: " + ", ".join(f"{n} {row['used']} (lock {row['locked']})" for n, row in differing.items()) + "."]
    for phase, error in result.get("errors", {}).items():
        lines += ["", f"Phase `{phase}` failed: `{error.splitlines()[0]}`"]
    return "\n".join(lines)


# ---- plots -----------------------------------------------------------------------------------
def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display on a build machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ratio_bars(results: dict[str, dict[str, Any] | None], target: Path) -> bool:
    """One bar per ratio we track; 1.0 is parity, the dashed line the 5% goal."""
    bars: list[tuple[str, float]] = []
    if (o := results["overhead"]) is not None:
        r = o["ratios"]
        bars += [("total\nmmar / hand-written", r["mmar_over_handwritten_total"]),
                 ("total\nmmar / MONAI bundle", r["mmar_over_monai_bundle_total"]),
                 ("first iteration\nmmar / hand-written", r["mmar_over_handwritten_first_iteration"]),
                 ("first iteration\nmmar / MONAI bundle", r["mmar_over_monai_bundle_first_iteration"]),
                 ("peak memory\nmmar / hand-written", r["mmar_over_handwritten_peak_rss"])]
        if "plain_gc_over_handwritten_total" in r:
            bars.append(("total, GC untuned\nmmar / hand-written", r["plain_gc_over_handwritten_total"]))
    if (d := results["determinism"]) is not None:
        bars.append(("total\ndeterministic / not", d["paired_deterministic_over_nondeterministic"]))
    if (i := results["image"]) is not None:
        m = i["cold_start_median"]
        bars.append(("first iteration\ncontainer / host", m["container_first"] / m["host_first"]))
    if not bars:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(10.0, 1.45 * len(bars)), 4.4), dpi=110)
    labels = [label for label, _ in bars]
    values = [value for _, value in bars]
    colors = ["tab:green" if v <= GOAL_TOTAL_RATIO else "tab:orange" for v in values]
    ax.bar(range(len(values)), values, color=colors)
    for x, v in enumerate(values):
        ax.text(x, v + 0.01, f"{v:.3f}", ha="center", va="bottom", fontsize=9)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(GOAL_TOTAL_RATIO, color="gray", linestyle="--", linewidth=0.8, label="5% goal")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylim(min(0.8, min(values) - 0.05), max(1.2, max(values) + 0.08))
    ax.set_ylabel("ratio (1.0 = parity)")
    ax.set_title("mmar-runner benchmark ratios (medians, same run)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return True


def scaling_lines(result: dict[str, Any] | None, target: Path) -> bool:
    """Overhead (ratio and seconds) against epochs and against data set size."""
    if result is None:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110, sharey=True)
    for ax, key, points, xlabel in ((axes[0], "epochs", result["epochs_sweep"], "epochs (8 training volumes)"),
                                    (axes[1], "train_cases", result["data_sweep"],
                                     f"training volumes ({result['data_sweep_epochs']} epochs)")):
        xs = [p[key] for p in points]
        ax.plot(xs, [p["ratio"] for p in points], marker="o", label="ratio of medians")
        ax.plot(xs, [p["paired_ratio"] for p in points], marker="s", linestyle=":", label="per-repetition ratio")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(GOAL_TOTAL_RATIO, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(xlabel)
        seconds = ax.twinx()
        seconds.bar(xs, [p["difference_s"] for p in points], width=[x * 0.25 for x in xs], alpha=0.25, color="tab:red")
        seconds.set_ylabel("mmar − hand-written, s", color="tab:red", fontsize=8)
    axes[0].set_ylabel("mmar / hand-written wall time")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("Overhead as work grows")
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return True


def check_lines(result: dict[str, Any] | None, target: Path) -> bool:
    if result is None:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    xs = [p["components"] for p in result["points"]]
    ax.plot(xs, [p["median_total_s"] for p in result["points"]], marker="o", label="`mmar check` process (imports included)")
    ax.plot(xs, [p["median_in_process_s"] for p in result["points"]], marker="s", label="load + check, in process")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("components in config_train.json")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=8)
    ax.set_title("mmar check vs config size")
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return True


# ---- splice ----------------------------------------------------------------------------------
def splice(text: str, name: str, block: str, doc: Path = DOC) -> str:
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{doc}: no <!-- bench:{name} --> ... <!-- /bench:{name} --> block")
    return pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the result JSON files (default bench/results)")
    parser.add_argument("--doc", type=Path, default=DOC, help="the page with the bench: markers (default docs/BENCHMARKS.md)")
    parser.add_argument("--img", type=Path, default=IMG, help="where the PNG plots go (default docs/img)")
    parser.add_argument("--gpu-kept", type=Path, default=GPU_KEPT,
                        help="the kept GPU result, used when --results has no CUDA run (default bench/gpu/results/gpu.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = {name: load(args.results, name) for name in ("overhead", "scaling", "check", "determinism", "image", "data_digest",
                                                       "bundle_train")}
    args.img.mkdir(parents=True, exist_ok=True)
    text = args.doc.read_text(encoding="utf-8")
    renderers = {"overhead": overhead_block, "scaling": scaling_block, "check": check_block,
                 "determinism": determinism_block, "image": image_block, "data_digest": data_digest_block,
                 "bundle_train": bundle_train_block}
    for name, render in renderers.items():
        if results[name] is None:
            print(f"{name}: no {args.results / name}.json; its block in {args.doc.name} is left as it was")
            continue
        text = splice(text, name, render(results[name]), args.doc)
    flavours = {f"image_{f}_{b}": load(args.results, f"image_{f}_{b}") for f, b in FLAVOUR_RUNS}
    if any(flavours.values()):
        text = splice(text, "image_flavours", image_flavours_block(flavours), args.doc)
    else:
        print(f"image_flavours: no image_FLAVOUR_BASE.json in {args.results}; its block is left as it was")
    gpu, gpu_source = pick_gpu_result(args.results, args.gpu_kept)
    text = splice(text, "gpu", gpu_block(gpu), args.doc)
    print(f"gpu: {'from ' + str(gpu_source) if gpu_source else 'no GPU result yet; the block says so'}")
    args.doc.write_text(text, encoding="utf-8")
    drawn = [ratio_bars(results, args.img / "bench_ratios.png"), scaling_lines(results["scaling"], args.img / "bench_scaling.png"),
             check_lines(results["check"], args.img / "bench_check.png")]
    print(f"updated {args.doc}; plots drawn: {sum(drawn)} of {len(drawn)} in {args.img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
