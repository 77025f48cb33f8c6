"""The GPU check: every GPU figure the project needs, from one command, into one JSON file.

On a borrowed GPU machine (``bash bench/gpu/run.sh "$OUT"``, see bench/gpu/README.md), at the full
spleen recipe on synthetic data (96³ patches, UNet channels up to 256, 4 samples per volume):

1. ``mmar verify`` with AMP off and with AMP on: bit-identical or not, the first diverging tensor;
2. ``mmar train`` against the hand-written MONAI script (``bench/handwritten_spleen.py``), and
   ``mmar train`` with ``deterministic_algorithms=False`` (the price of determinism), alternated in
   fresh processes, 3 repetitions: wall time, time to first iteration, iterations/s, peak GPU memory;
3. the device fingerprint (the run manifest's, and nvidia-smi's) and the library versions used,
   set against our lock (the machine's torch is not the lock's).

The result is written after every phase, so a run cut short still leaves what it measured.
``--device cpu`` runs the same phases at tiny sizes (the test suite's smoke run); its figures are
labelled CPU everywhere and are never GPU figures.

    python bench/gpu/gpu_check.py --results DIR [--device cuda|cpu] [--scale full|tiny] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GPU_DIR = Path(__file__).resolve().parent
BENCH = GPU_DIR.parent
REPO = BENCH.parent
for _folder in (str(REPO), str(BENCH), str(GPU_DIR)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

from gpu_env import against_lock, nvidia_smi, versions_used  # noqa: E402
from gpu_throughput import Variant, alternate, paired, summary, with_probe  # noqa: E402
from gpu_verify import run_verify  # noqa: E402
from harness import PYTHON, log, machine_description, run_checked  # noqa: E402
from pipelines import Sizes, Workspace, handwritten_command, mmar_command, prepare_workspace  # noqa: E402

RESULT_NAME = "gpu.json"
PROBE_MODULE = GPU_DIR / "gpu_probe.py"
HANDWRITTEN_PROBED = GPU_DIR / "handwritten_probed.py"
NONDETERMINISTIC = "deterministic_algorithms=False"
VARIANTS = ("mmar", "handwritten", "mmar_nondeterministic")


@dataclass(frozen=True)
class Scale:
    """Sizes of one check: the training recipe, the synthetic volumes, verify's iterations."""

    sizes: Sizes
    data_shape: tuple[int, int, int]
    verify_iterations: int


SCALES = {
    # The bundle's own recipe (patch 96³, channels to 256, 4 samples per volume, batch 2, 4 loader workers),
    # 16 training volumes of 128x128x112 (4 epochs of 8 iterations; validation once, at the end).
    "full": Scale(Sizes(epochs=4, train_cases=16, learning_rate=2e-4, val_interval=4, patch_size=(96, 96, 96),
                        val_roi_size=(160, 160, 160), num_samples=4, num_workers=4, batch_size=2,
                        channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2)), (128, 128, 112), 8),
    # Seconds per run on 2 CPU cores: proves the script, measures nothing worth reporting.
    "tiny": Scale(Sizes(epochs=2, train_cases=4, val_interval=2, patch_size=(32, 32, 32), val_roi_size=(48, 48, 48),
                        num_samples=2, num_workers=0, channels=(4, 8, 16), strides=(2, 2)), (48, 48, 40), 2),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help=f"folder to write {RESULT_NAME} into")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda (default) or cpu (smoke run)")
    parser.add_argument("--scale", choices=tuple(SCALES), default=None, help="full (default on cuda) or tiny (default on cpu)")
    parser.add_argument("--reps", type=int, default=3, help="counted repetitions of the alternated runs (default 3)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="uncounted rounds first (default 0: the verify phase has warmed caches and kernels already)")
    parser.add_argument("--epochs", type=int, default=None, help="override the scale's epochs for the timed runs")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one, removed after)")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.warmup < 0 or (args.epochs is not None and args.epochs < 1):
        parser.error("--reps and --epochs must be at least 1, --warmup at least 0")
    args.scale = args.scale or ("full" if args.device == "cuda" else "tiny")
    return args


class Report:
    """The result document, rewritten (atomically) after every phase."""

    def __init__(self, target: Path, header: dict[str, Any]) -> None:
        self.target = target
        self.started = time.perf_counter()
        self.document: dict[str, Any] = {"benchmark": "gpu", "finished_at": None, "complete": False, **header,
                                         "phases_s": {}, "errors": {}}

    def phase(self, name: str, work: Callable[[], Any], record: Callable[[Any], Any] = lambda result: result) -> Any:
        """Run one phase; ``record(result)`` goes under ``name``, a failure into ``errors`` (the next phases still run).

        Any exception is caught on purpose: a GPU lease is short and rare, and one broken phase must not
        cost the figures of the others.
        """
        log(f"[gpu] {name}: started at +{time.perf_counter() - self.started:.0f} s")
        begun = time.perf_counter()
        result = None
        try:
            result = work()
            self.document[name] = record(result)
        except Exception as error:
            self.document["errors"][name] = f"{type(error).__name__}: {error}"
            log(f"[gpu] {name}: FAILED: {type(error).__name__}: {error}")
        self.document["phases_s"][name] = round(time.perf_counter() - begun, 2)
        log(f"[gpu] {name}: {self.document['phases_s'][name]:.1f} s")
        self.write()
        return result

    def write(self, complete: bool = False) -> None:
        self.document["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.document["total_s"] = round(time.perf_counter() - self.started, 2)
        self.document["complete"] = complete and not self.document["errors"]
        self.target.parent.mkdir(parents=True, exist_ok=True)
        partial = self.target.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.document, indent=2) + "\n", encoding="utf-8")
        partial.replace(self.target)


def runner_importable_everywhere() -> None:
    """Put the checkout on PYTHONPATH: on the GPU machine the runner is not installed, only carried as source."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO)])


def child_env(device: str) -> dict[str, str]:
    """Variables every child gets: on --device cpu no CUDA device is visible, so every variant trains on CPU."""
    return {"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {}


def device_set(device: str) -> list[str]:
    return ["use_gpu=false"] if device == "cpu" else []


def make_workspace(root: Path, scale: Scale) -> Workspace:
    """pipelines' copy of the spleen MMAR (with the first-iteration probe), plus the GPU probe and the data set."""
    workspace = prepare_workspace(root)
    shutil.copy2(PROBE_MODULE, workspace.mmar / "custom" / PROBE_MODULE.name)
    config_file = workspace.mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["train"]["handlers"].append({"path": "gpu_probe.GpuProbe"})
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    data = root / "data" / f"train{scale.sizes.train_cases}"  # where Workspace.data() looks first
    size = ",".join(map(str, scale.data_shape))
    run_checked([PYTHON, "-m", "runner", "synthetic-data", str(data), "--train-cases", str(scale.sizes.train_cases),
                 "--val-cases", "2", "--test-cases", "0", "--size", size], "mmar synthetic-data")
    return workspace


def data_set(workspace: Workspace, sizes: Sizes) -> list[str]:
    data = workspace.data(sizes.train_cases)
    return [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset.json'}"]


def verify_phase(workspace: Workspace, scale: Scale, device: str, amp: bool) -> dict[str, Any]:
    keep = workspace.root / "verify" / ("amp_on" if amp else "amp_off")
    shutil.rmtree(keep, ignore_errors=True)
    sets = [*scale.sizes.mmar_set(), *data_set(workspace, scale.sizes), *device_set(device), f"amp={str(amp).lower()}"]
    result = run_verify(workspace.mmar, keep, scale.verify_iterations, sets, {**os.environ, **child_env(device)})
    log(f"[gpu] verify, AMP {'on' if amp else 'off'}: {result['verdict']}"
        + (f" (first diverging tensor {result['first_diverging_tensor']})" if not result["identical"] else "")
        + f", {result['wall_s']:.1f} s")
    return result


def variants(workspace: Workspace, sizes: Sizes, device: str) -> dict[str, Variant]:
    """mmar (AMP off, as the hand-written script), the hand-written script, mmar without deterministic algorithms."""
    env = child_env(device)
    common = (*device_set(device), "amp=false")
    module_cli = [PYTHON, "-m", "runner"]
    mmar = mmar_command(workspace, sizes, label="mmar", extra_set=common, env=env)
    fast = mmar_command(workspace, sizes, label="mmar_nondeterministic", extra_set=(*common, NONDETERMINISTIC), env=env)
    hand = handwritten_command(workspace, sizes)
    # The hand-written script under strict deterministic algorithms needs cuBLAS's workspace pinned, as mmar pins it.
    hand = replace(hand, argv=[PYTHON, str(HANDWRITTEN_PROBED), *hand.argv[2:]],
                   env={**hand.env, **env, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"})
    commands = {"mmar": replace(mmar, argv=[*module_cli, *mmar.argv[1:]]), "handwritten": hand,
                "mmar_nondeterministic": replace(fast, argv=[*module_cli, *fast.argv[1:]])}
    probes = workspace.root / "gpu_probes"
    return {name: with_probe(commands[name], probes / f"{name}.json") for name in VARIANTS}


def throughput_phase(workspace: Workspace, sizes: Sizes, device: str, reps: int, warmup: int) -> dict[str, Any]:
    chosen = variants(workspace, sizes, device)
    runs, failed = alternate(chosen, reps, warmup, label="gpu")
    if not runs:
        raise RuntimeError("every variant failed: " + "; ".join(f"{n}: {e.splitlines()[0]}" for n, e in failed.items()))
    table = summary(runs)
    ratios = {
        "mmar_over_handwritten_total": paired(runs, "mmar", "handwritten", "total_s"),
        "mmar_over_handwritten_iterations_per_s": paired(runs, "mmar", "handwritten", "iterations_per_s"),
        "mmar_over_handwritten_first_iteration": paired(runs, "mmar", "handwritten", "first_iteration_s"),
        "deterministic_over_nondeterministic_total": paired(runs, "mmar", "mmar_nondeterministic", "total_s"),
        "nondeterministic_over_deterministic_iterations_per_s": paired(runs, "mmar_nondeterministic", "mmar", "iterations_per_s"),
    }
    return {"reps": reps, "warmup_rounds": warmup, "commands": {n: v.command.argv for n, v in chosen.items()},
            "summary": table, "ratios": ratios, "runs": [asdict(r) for r in runs], "failed": failed}


def fingerprint(document: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    """The run manifest's device fingerprint (from verify, else from the last timed mmar run) and nvidia-smi's view."""
    device = None
    for key in ("verify_amp_off", "verify_amp_on"):
        if key in document and document[key].get("device"):
            device = document[key]["device"]
            break
    if device is None:
        manifest = workspace.output_dir("mmar") / "run_manifest.json"
        if manifest.is_file():
            device = json.loads(manifest.read_text(encoding="utf-8")).get("device")
    if device is None:
        raise ValueError("no run manifest to read the device fingerprint from")
    return {**device, "nvidia_smi": nvidia_smi()}


def run(args: argparse.Namespace, root: Path) -> int:
    scale = SCALES[args.scale]
    sizes = scale.sizes if args.epochs is None else replace(scale.sizes, epochs=args.epochs, val_interval=args.epochs)
    machine = machine_description()
    if args.device == "cuda" and not machine["gpu"]:
        log("[gpu] torch sees no CUDA device here: nothing measured (use --device cpu for the smoke run)")
        return 2
    used = versions_used()
    report = Report(args.results / RESULT_NAME, {
        "machine": machine, "device_requested": args.device, "scale": args.scale, "sizes": asdict(sizes),
        "data_shape": list(scale.data_shape), "verify_iterations": scale.verify_iterations,
        "environment": {"versions": used, "against_lock": against_lock(used)},
    })
    log(f"[gpu] {args.device}, {args.scale} scale; torch {used['torch']['version']}, GPU {machine['gpu'] or 'none'}; "
        f"results -> {report.target}")
    workspace = report.phase("workspace", lambda: make_workspace(root, scale), lambda made: str(made.root))
    if workspace is None:
        return 1
    report.phase("verify_amp_off", lambda: verify_phase(workspace, scale, args.device, amp=False))
    report.phase("verify_amp_on", lambda: verify_phase(workspace, scale, args.device, amp=True))
    report.phase("throughput", lambda: throughput_phase(workspace, sizes, args.device, args.reps, args.warmup))
    report.phase("device_fingerprint", lambda: fingerprint(report.document, workspace))
    report.write(complete=True)
    errors = report.document["errors"]
    log(f"[gpu] done in {report.document['total_s']:.0f} s; {len(errors)} phase(s) failed{': ' + ', '.join(errors) if errors else ''}")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner_importable_everywhere()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        return run(args, args.work)
    with tempfile.TemporaryDirectory(prefix="mmar-gpu-check-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
