"""Image costs: runtime-stage build and size, bundle rebuild after a custom/ edit, cold start in a container vs on the host.

Uses the same engine, Debian base image and wheelhouse as the image tests (tests/image/engine.py),
starting a private dockerd when DOCKER_HOST does not answer. Without --flavour: the CPU image built
air-gapped on bookworm, as CI measures it; results in bench/results/image.json (and
image_cpu_bookworm.json), printed as the table docs/BENCHMARKS.md shows.

With --flavour cuda|cpu [--base bookworm|trixie]: the build a user gets on a machine that reaches
PyPI (:func:`measure_flavour`): results in bench/results/image_<flavour>_<base>.json. The CUDA one
downloads several GB: it is not part of `make bench`.

    .venv/bin/python bench/bench_image.py [--reps 5]
    .venv/bin/python bench/bench_image.py --flavour cuda --base bookworm
"""

from __future__ import annotations

import argparse
import functools
import json
import os
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

RESULTS_DIR = REPO / "bench" / "results"
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
        build_image(BuildRequest(bundle, "mmar-bench/shutdown:0", base, wheels, flavour="cpu"), progress=quiet)
        for rep in range(1, reps + 1):
            with (bundle / "custom" / "shutdown.py").open("a") as source:
                source.write(f"\n# edited {uuid.uuid4().hex}\n")
            seconds.append(build_image(BuildRequest(bundle, f"mmar-bench/shutdown:{rep}", base, wheels, flavour="cpu"), progress=quiet).seconds)
    return seconds


# What a user would otherwise pull, for scale (none can be pulled here). No size published by NVIDIA (NGC) or Replicate
# (Cog) was found in the sources searched; these are third-party reports, each with where it comes from.
PUBLISHED_SIZES: list[dict[str, object]] = [
    {"image": "nvcr.io/nvidia/pytorch:23.03-py3", "gb": 20, "kind": "local size, approximate",
     "source": "https://github.com/d4l3k/torchdrive/pull/4 (2023-04-11: 'accounting for ~20GB')"},
    {"image": "a Cog image of a ResNet example (cog-resnet)", "gb": 2.72, "kind": "local size",
     "source": "https://github.com/replicate/cog/issues/972 (2023-03-27; 1.94 GB with python:3.9-slim)"},
]


def proxy_cas() -> tuple[Path, ...]:
    """This machine's extra CA certificates (a TLS-intercepting proxy): pip in the build stage needs them to reach PyPI."""
    return tuple(sorted(Path("/usr/local/share/ca-certificates").glob("*.crt")))


def layer_sizes(host: str, tag: str) -> list[int]:
    """Sizes of the image's layers, newest first, as the engine reports them."""
    rows = docker(host, "history", "--no-trunc", "--format", "{{.Size}}", tag).stdout.split()
    return [_bytes(row) for row in rows]


def torch_in_image(host: str, tag: str) -> dict[str, object]:
    """What the image's torch is and sees on this host, and a CPU kernel fingerprint to compare flavours with."""
    probe = ("import hashlib, json, torch\n"
             "torch.manual_seed(0); torch.use_deterministic_algorithms(True)\n"
             "x = torch.randn(2, 1, 24, 24, 24); conv = torch.nn.Conv3d(1, 4, 3, padding=1)\n"
             "y = conv(x); y.square().mean().backward()\n"
             "digest = hashlib.sha256(y.detach().numpy().tobytes() + conv.weight.grad.numpy().tobytes()).hexdigest()\n"
             "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'cuda_available': torch.cuda.is_available(),"
             " 'device_count': torch.cuda.device_count(), 'cpu_capability': torch.backends.cpu.get_cpu_capability(),"
             " 'mkldnn': torch.backends.mkldnn.is_available(), 'threads': torch.get_num_threads(), 'conv3d_sha256': digest}))\n")
    done = docker(host, "run", "--rm", "--network", "none", "--entrypoint", "/opt/venv/bin/python", tag, "-c", probe)
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_in_image(host: str, tag: str, data: Path, words: list[str]) -> dict[str, object]:
    """One short run in the image on this (GPU-less) host: exit code, the preflight's lines, the manifest's digest."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out"
        out.mkdir()
        out.chmod(0o777)
        started = time.perf_counter()
        done = docker(host, "run", "--rm", "--network", "none", "--read-only", "-v", f"{out}:/out", "-v", f"{data}:/data:ro",
                      tag, "--set", *words, check=False)
        seconds = time.perf_counter() - started
        manifest_file = out / "run_manifest.json"
        manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    said = [line for line in done.stderr.splitlines() if "GPU" in line or "training on CPU" in line or line.startswith(("error", "  hint"))]
    return {"exit_code": done.returncode, "seconds": round(seconds, 1), "preflight": said[:4], "status": manifest.get("status"),
            "weights_digest": manifest.get("weights_digest"), "device": manifest.get("device"),
            "torch": (manifest.get("versions") or {}).get("torch")}


@functools.cache
def cpu_torch_wheelhouse() -> Path | None:
    """A folder holding only torch's +cpu wheel(s) found in $MMAR_BENCH_TORCH_WHEELS (none: the index must serve them)."""
    source = os.environ.get("MMAR_BENCH_TORCH_WHEELS")
    if not source:
        return None
    folder = Path(tempfile.mkdtemp(prefix="mmar-bench-torch-"))
    for wheel in Path(source).glob("torch-*+cpu-*.whl"):
        shutil.copy(wheel, folder / wheel.name)
    return folder


def flavour_request(flavour: str, base: str, tag: str, torch_index: str | None, mmar: Path | None = None,
                    no_cache: bool = False) -> BuildRequest:
    """As a user on a machine that reaches PyPI: no wheelhouse; for cpu, torch's +cpu wheel from --torch-index-url,
    or from $MMAR_BENCH_TORCH_WHEELS where that index cannot be reached (as here)."""
    wheels = cpu_torch_wheelhouse() if flavour == "cpu" else None
    return BuildRequest(mmar, tag, base, wheels, proxy_cas(), no_cache, flavour=flavour, torch_index_url=torch_index)


def compare_flavours(mine: dict, other: Path) -> dict[str, object]:
    """The weights and the conv3d fingerprint against the other flavour's run on the same base; None where it has none."""
    theirs = json.loads(other.read_text()) if other.is_file() else {}
    weights = (theirs.get("train_use_gpu_false") or {}).get("weights_digest")
    conv = (theirs.get("torch_in_image") or {}).get("conv3d_sha256")
    return {"other_flavour_result": other.name if theirs else None,
            "weights_digest_equals_other_flavour": None if weights is None else weights == mine["train_use_gpu_false"]["weights_digest"],
            "conv3d_equals_other_flavour": None if conv is None else conv == mine["torch_in_image"]["conv3d_sha256"]}


def measure_flavour(host: str, flavour: str, suite: str, reps: int, torch_index: str | None = None) -> None:
    """Build the flavour's runtime stage from the network on a Debian base, then a bundle, an edit, and a run on this host."""
    from runner.errors import MmarRunnerError
    from tests.image.engine import BASE_PYTHONS

    base = ensure_base_image(host, suite)
    name = f"image_{flavour}_{suite}"
    results: dict[str, object] = {"flavour": flavour, "base_image": base, "base_python": BASE_PYTHONS[suite],
                                  "engine": "Docker " + docker(host, "version", "--format", "{{.Server.Version}}").stdout.strip(),
                                  "published_sizes": PUBLISHED_SIZES}
    if flavour == "cpu":
        results.update({"torch_index_url": torch_index or "default", "torch_wheels_from": os.environ.get("MMAR_BENCH_TORCH_WHEELS")})
    runtime_tag = f"mmar-bench/runtime:{flavour}-{suite}"
    log(f"building {runtime_tag} from the network (no cache)")
    try:
        runtime = build_image(flavour_request(flavour, base, runtime_tag, torch_index, no_cache=True), progress=log)
    except MmarRunnerError as exc:
        results["blocked"] = exc.render()
        write_result(name, results)
        log(f"{name}: blocked: {exc.render()}")
        return
    results.update({"runtime_build_no_cache_s": round(runtime.seconds, 1), "air_gapped": runtime.air_gapped,
                    "lock_pythons": list(runtime.pythons or ()), "runtime_image_bytes": image_size(host, runtime_tag),
                    "runtime_layers_bytes": layer_sizes(host, runtime_tag), "labels": json.loads(docker(
                        host, "image", "inspect", "--format", "{{json .Config.Labels}}", runtime_tag).stdout)})
    spleen_tag = f"mmar-bench/spleen:{flavour}-{suite}"
    # The engine's classic builder did not reuse a --no-cache build's build-stage layers (seen with the CUDA flavour: the
    # first bundle build re-ran pip): build the runtime stage once more with the cache, untimed, so the bundle is timed alone.
    build_image(flavour_request(flavour, base, runtime_tag, torch_index), progress=quiet)
    spleen = build_image(flavour_request(flavour, base, spleen_tag, torch_index, REPO / "bundles" / "spleen_ct_seg"), progress=quiet)
    results["bundle_build_spleen_s"] = round(spleen.seconds, 2)
    results["bundle_image_bytes"] = image_size(host, spleen_tag)
    edit_s, edit_layer = [], 0
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "byoc_shutdown"
        shutil.copytree(REPO / "bundles" / "byoc_shutdown", bundle, ignore=shutil.ignore_patterns("data", "models"))
        build_image(flavour_request(flavour, base, f"mmar-bench/shutdown:{flavour}-{suite}-0", torch_index, bundle), progress=quiet)
        for rep in range(1, reps + 1):
            with (bundle / "custom" / "shutdown.py").open("a") as source:
                source.write(f"\n# edited {uuid.uuid4().hex}\n")
            edit_s.append(build_image(flavour_request(flavour, base, f"mmar-bench/shutdown:{flavour}-{suite}-{rep}", torch_index, bundle), progress=quiet).seconds)
        edit_layer = top_layer_size(host, f"mmar-bench/shutdown:{flavour}-{suite}-{reps}")
    results.update({"rebuild_after_custom_edit_s": [round(x, 2) for x in edit_s],
                    "median_rebuild_after_custom_edit_s": round(statistics.median(edit_s), 2), "custom_edit_layer_bytes": edit_layer})
    results["torch_in_image"] = torch_in_image(host, spleen_tag)
    data = Path(tempfile.mkdtemp(prefix="mmar-bench-data-"))
    try:
        from runner.data.synthetic import SyntheticSpec, write_dataset

        write_dataset(data, SyntheticSpec(4, 2, 2, (40, 40, 32), seed=0))
        for folder in [data, *(p for p in data.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        words = [*TINY_SET, "epochs=1"]
        results["train_use_gpu_default"] = train_in_image(host, spleen_tag, data, words)
        results["train_use_gpu_false"] = train_in_image(host, spleen_tag, data, [*words, "use_gpu=False"])
    finally:
        shutil.rmtree(data, ignore_errors=True)
    results.update(compare_flavours(results, RESULTS_DIR / f"image_{'cpu' if flavour == 'cuda' else 'cuda'}_{suite}.json"))
    write_result(name, results)
    log(f"| {flavour} on {suite} | runtime build {results['runtime_build_no_cache_s']} s | {results['runtime_image_bytes'] / 1e9:.2f} GB "
        f"| custom/ edit layer {edit_layer / 1e3:.0f} kB | weights {results['train_use_gpu_false']['weights_digest']} |")  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of every measure (default 5)")
    parser.add_argument("--flavour", choices=("cuda", "cpu"), help="measure this flavour's network build instead (measure_flavour)")
    parser.add_argument("--base", choices=("bookworm", "trixie"), default="bookworm", help="with --flavour: the Debian base (default bookworm)")
    parser.add_argument("--torch-index-url", help="with --flavour cpu: where torch's +cpu wheels live (default: mmar build's)")
    options = parser.parse_args()
    host, daemon, why = start_engine()
    if host is None:
        log(f"no Docker engine: {why}")
        raise SystemExit(NO_ENGINE)
    os.environ["DOCKER_HOST"] = host
    if options.flavour:
        try:
            measure_flavour(host, options.flavour, options.base, options.reps, options.torch_index_url)
        finally:
            stop_engine(daemon)
        return
    try:
        base, wheels = ensure_base_image(host), ensure_wheelhouse()
        runtime_s = [build_image(BuildRequest(None, "mmar-bench/runtime:cpu", base, wheels, no_cache=True, flavour="cpu"),
                                 progress=quiet).seconds for _ in range(options.reps)]
        # once: a second build of unchanged content is a cache hit; the repeated measure is the edit rebuild below
        spleen = build_image(BuildRequest(REPO / "bundles" / "spleen_ct_seg", "mmar-bench/spleen:1", base, wheels, flavour="cpu"),
                             progress=quiet)
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
