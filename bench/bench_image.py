"""Image costs: runtime-stage build and size, bundle rebuild after a custom/ edit, cold start in a container vs on the host.

Uses the same engine, Debian base image and wheelhouse as the image tests (tests/image/engine.py),
starting a private dockerd when DOCKER_HOST does not answer. Results go to bench/results/image.json
and are printed as the table docs/BENCHMARKS.md shows.

    .venv/bin/python bench/bench_image.py [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import log, write_result  # noqa: E402

from runner.image.build import BuildRequest, build_image  # noqa: E402
from tests.conftest import TINY_SET  # noqa: E402
from tests.image.engine import docker, ensure_base_image, ensure_wheelhouse, start_engine, stop_engine  # noqa: E402

NO_ENGINE = 3  # exit code: nothing measured because no engine could be started (make bench goes on)


def image_size(host: str, tag: str) -> int:
    return int(json.loads(docker(host, "image", "inspect", tag).stdout)[0]["Size"])


def top_layer_size(host: str, tag: str) -> int:
    """Size of the newest non-empty layer (the MMAR's COPY in a bundle image)."""
    rows = docker(host, "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", tag).stdout.splitlines()
    for row in rows:
        size, created = row.split("\t", 1)
        if "COPY" in created or "copy" in created:
            return _bytes(size)
    return 0


def _bytes(text: str) -> int:
    units = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * units[unit])
    return int(float(text))


def first_iteration_wall(manifest: dict, launched: float) -> float:
    started = datetime.fromisoformat(manifest["started_at"]).timestamp()
    return started + manifest["time_to_first_iteration_s"] - launched


def cold_starts(host: str, tag: str, data: Path, reps: int) -> dict[str, list[float]]:
    """Alternating runs of one epoch: host process vs container, launch-to-first-iteration and total wall time."""
    from tests.conftest import DEMO_BUNDLE, write_json

    figures: dict[str, list[float]] = {"host_first": [], "container_first": [], "host_total": [], "container_total": []}
    words = [*TINY_SET, "epochs=1"]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "mmar"
        shutil.copytree(DEMO_BUNDLE, root, ignore=shutil.ignore_patterns("data", "models", "eval"))
        write_json(root / "config" / "environment.json", {"DATA_ROOT": str(data), "DATASET_JSON": str(data / "dataset.json")})
        for _ in range(reps):
            out = Path(scratch) / f"out-{uuid.uuid4().hex[:6]}"
            out.mkdir()
            out.chmod(0o777)
            launched = time.time()
            subprocess.run([sys.executable, "-m", "runner", "train", str(root), "--set", *words], check=True, capture_output=True)
            figures["host_total"].append(time.time() - launched)
            figures["host_first"].append(first_iteration_wall(json.loads((root / "models" / "run_manifest.json").read_text()), launched))
            launched = time.time()
            docker(host, "run", "--rm", "--network", "none", "--read-only", "-v", f"{out}:/out", "-v", f"{data}:/data:ro",
                   tag, "--set", *words)
            figures["container_total"].append(time.time() - launched)
            figures["container_first"].append(first_iteration_wall(json.loads((out / "run_manifest.json").read_text()), launched))
    return figures


def quiet(_line: str) -> None:
    """Build progress is not shown while timing."""


def rebuilds_after_edit(base: str, wheels: Path, reps: int) -> list[float]:
    """Build byoc_shutdown once (tag :0), then ``reps`` times edit one custom/ file and rebuild (tags :1..:reps); seconds each."""
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "byoc_shutdown"
        shutil.copytree(REPO / "bundles" / "byoc_shutdown", bundle, ignore=shutil.ignore_patterns("data", "models"))
        build_image(BuildRequest(bundle, "mmar-bench/shutdown:0", base, wheels), progress=quiet)
        for rep in range(1, reps + 1):
            with (bundle / "custom" / "shutdown.py").open("a") as source:
                source.write(f"\n# edited {uuid.uuid4().hex}\n")
            seconds.append(build_image(BuildRequest(bundle, f"mmar-bench/shutdown:{rep}", base, wheels), progress=quiet).seconds)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of every measure (default 5)")
    options = parser.parse_args()
    host, daemon, why = start_engine()
    if host is None:
        log(f"no Docker engine: {why}")
        raise SystemExit(NO_ENGINE)
    import os

    os.environ["DOCKER_HOST"] = host
    try:
        base, wheels = ensure_base_image(host), ensure_wheelhouse()
        runtime_s = [build_image(BuildRequest(None, "mmar-bench/runtime:cpu", base, wheels, no_cache=True), progress=quiet).seconds
                     for _ in range(options.reps)]
        # once: a second build of unchanged content is a cache hit; the repeated measure is the edit rebuild below
        spleen = build_image(BuildRequest(REPO / "bundles" / "spleen_ct_seg", "mmar-bench/spleen:1", base, wheels), progress=quiet)
        edit_s = rebuilds_after_edit(base, wheels, options.reps)
        data = Path(tempfile.mkdtemp(prefix="mmar-bench-data-"))
        data.chmod(0o755)
        from runner.data.synthetic import SyntheticSpec, write_dataset

        write_dataset(data, SyntheticSpec(4, 2, 2, (40, 40, 32), seed=0))
        for folder in [p for p in data.rglob("*") if p.is_dir()]:
            folder.chmod(0o755)
        starts = cold_starts(host, "mmar-bench/spleen:1", data, options.reps)
        shutil.rmtree(data, ignore_errors=True)
        median = {k: statistics.median(v) for k, v in starts.items()}
        engine_version = docker(host, "version", "--format", "{{.Server.Version}}").stdout.strip()
        results = {
            "reps": options.reps,
            "engine": f"Docker {engine_version}",
            "base_image": base,
            "runtime_build_no_cache_s": [round(x, 1) for x in runtime_s],
            "median_runtime_build_no_cache_s": round(statistics.median(runtime_s), 1),
            "runtime_image_bytes": image_size(host, "mmar-bench/runtime:cpu"),
            "bundle_build_spleen_s": round(spleen.seconds, 2),
            "bundle_layer_spleen_bytes": top_layer_size(host, "mmar-bench/spleen:1"),
            "rebuild_after_custom_edit_s": [round(x, 2) for x in edit_s],
            "median_rebuild_after_custom_edit_s": round(statistics.median(edit_s), 2),
            "bundle_layer_byoc_shutdown_bytes": top_layer_size(host, f"mmar-bench/shutdown:{options.reps}"),
            "cold_start": {k: [round(x, 2) for x in v] for k, v in starts.items()},
            "cold_start_median": {k: round(v, 2) for k, v in median.items()},
        }
    finally:
        stop_engine(daemon)
    write_result("image", results)
    m = results["cold_start_median"]
    log(f"\n| runtime stage, no cache | {results['median_runtime_build_no_cache_s']} s, {results['runtime_image_bytes'] / 1e6:.0f} MB |")
    log(f"| bundle stage (spleen), runtime cached, first build | {results['bundle_build_spleen_s']} s, "
        f"layer {results['bundle_layer_spleen_bytes'] / 1e3:.0f} kB |")
    log(f"| rebuild after a custom/ edit | {results['median_rebuild_after_custom_edit_s']} s, "
        f"layer {results['bundle_layer_byoc_shutdown_bytes'] / 1e3:.0f} kB |")
    log(f"| launch to first iteration, host / container | {m['host_first']} s / {m['container_first']} s "
        f"({m['container_first'] / m['host_first']:.2f}x) |")
    log(f"| one-epoch run, host / container | {m['host_total']} s / {m['container_total']} s ({m['container_total'] / m['host_total']:.2f}x) |")


if __name__ == "__main__":
    main()
