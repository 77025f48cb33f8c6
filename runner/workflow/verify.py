"""``mmar verify`` and ``mmar diff``: prove a run repeats bit for bit, or say where and why it does not.

``verify`` trains twice in separate processes (a fresh interpreter each: nothing shared but the
files) and compares the two run manifests' per-tensor digests. ``diff`` compares any two manifests
and lists every recorded fact that can change numbers: inputs, seed, library versions, device,
threads, determinism flags, world size. Different data is said as ``the data changed: N files,
first PATH`` from the per-file lists beside the two manifests (``data_files.json``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runner.data.content_digest import DataDigest
from runner.data.content_digest import compare as compare_data
from runner.errors import BAD_INPUT_EXIT, MmarLayoutError, MmarRunnerError, RunFailedError
from runner.jsonio import load_json
from runner.manifest import MANIFEST_NAME
from runner.run_spec import NodeLayout, RunSpec, worker_argv
from runner.tracking.mlflow_run import MlflowRun
from runner.workflow.data_record import load_data_list
from runner.workflow.session import RunSession

# Manifest fields (dotted) whose difference can change the numbers a run produces.
NUMERIC_FIELDS = (
    "seed", "config_digest", "datalist_digests", "data.digest", "custom_code_digest", "amp.in_force", "max_epochs", "world_size",
    "versions", "device.device", "device.machine", "device.cpu_capability", "device.torch_num_threads", "device.torch_cuda",
    "device.cudnn", "device.gpu_name", "device.gpu_capability", "device.gpu_sm_count", "device.gpu_count", "device.driver",
    "device.nccl", "determinism", "iterations",
)
DEFAULT_VERIFY_ITERATIONS = 4
# What compare() reads, with the JSON types a manifest written by mmar has there.
MANIFEST_FIELDS = (("weights_digest", str, "a digest string"), ("tensor_digests", dict, "an object"),
                   ("status", str, "a string"))


@dataclass(frozen=True)
class Difference:
    field: str
    first: Any
    second: Any
    note: str | None = None  # said instead of the two values (the data: which files changed)

    def render(self) -> str:
        return self.note or f"{self.field}: {_short(self.first)} -> {_short(self.second)}"


@dataclass(frozen=True)
class Comparison:
    identical: bool
    digest: str | None
    first_diverging_tensor: str | None
    differing_tensors: int
    settings: list[Difference]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def numeric_differences(first: Mapping[str, Any], second: Mapping[str, Any], first_data: DataDigest | None = None,
                        second_data: DataDigest | None = None) -> list[Difference]:
    """Every difference between two manifests in the fields that can change numbers.

    A different data digest is said as ``the data changed: N files, first PATH`` when both runs'
    per-file lists are given (``first_data``, ``second_data``), else by the two digests.
    """
    a, b = _flatten(first), _flatten(second)
    found = []
    for key in sorted(set(a) | set(b)):
        if not any(key == field or key.startswith(field + ".") for field in NUMERIC_FIELDS):
            continue
        if a.get(key) != b.get(key):
            note = None
            if key == "data.digest" and a.get(key) and b.get(key):
                note = compare_data(first_data or first["data"], second_data or second["data"])
            found.append(Difference(key, a.get(key, "(absent)"), b.get(key, "(absent)"), note))
    return found


def compare(first: Mapping[str, Any], second: Mapping[str, Any], first_data: DataDigest | None = None,
            second_data: DataDigest | None = None) -> Comparison:
    """Weights first (equal digests, or the first tensor in model order that differs), then the settings."""
    identical = first.get("weights_digest") is not None and first.get("weights_digest") == second.get("weights_digest")
    tensors_a, tensors_b = first.get("tensor_digests") or {}, second.get("tensor_digests") or {}
    differing = [name for name in tensors_a if tensors_a.get(name) != tensors_b.get(name)]
    differing += [name for name in tensors_b if name not in tensors_a]
    return Comparison(identical, first.get("weights_digest") if identical else None, differing[0] if differing else None,
                      len(differing), numeric_differences(first, second, first_data, second_data))


def compare_runs(first: Path, second: Path) -> Comparison:
    """:func:`compare` of two manifests on disk (files or their folders), with the data lists beside them."""
    (manifest_a, data_a), (manifest_b, data_b) = load_run(first), load_run(second)
    return compare(manifest_a, manifest_b, data_a, data_b)


def load_run(path: Path) -> tuple[dict[str, Any], DataDigest | None]:
    """A run's manifest (a file or its folder) and the per-file data list beside it, when there is a usable one."""
    manifest = load_manifest(path)
    return manifest, load_data_list(path if path.is_dir() else path.parent, manifest.get("data"))


def load_manifest(path: Path) -> dict[str, Any]:
    path = path / MANIFEST_NAME if path.is_dir() else path
    if not path.is_file():
        raise MmarLayoutError(f"{path}: run manifest not found")
    manifest = load_json(path, str(path))
    if not isinstance(manifest, dict) or "manifest_version" not in manifest:
        raise MmarLayoutError(f"{path}: not a run manifest")
    for field, kinds, shown in MANIFEST_FIELDS:
        if manifest.get(field) is not None and not isinstance(manifest[field], kinds):
            raise MmarLayoutError(f"{path}: {field}: expected {shown}, got {type(manifest[field]).__name__}",
                                  hint="a run manifest is written by mmar train; this one was changed or is something else")
    return manifest


def verify(spec: RunSpec, iterations: int | None = DEFAULT_VERIFY_ITERATIONS, keep: Path | None = None,
           verbose: bool = False) -> tuple[Comparison, list[Path]]:
    """Train twice, each in its own process and output folder, and compare.

    The MMAR is checked here first, so bad input is exit 2 before anything runs. The two runs live
    under one folder (``keep``, or a new temporary one) in a :class:`RunSession`: held while they
    run, and removed again when they fail, so a failed verify leaves no folder behind. Without
    ``keep`` the temporary folder goes when verify ends, whatever the outcome, with what the runs
    wrote to their temp folder (TMPDIR points inside it); the manifests returned are then none.
    ``verbose`` runs them with ``-v`` and passes a failing run's output (its traceback) through.

    Raises:
        ConfigError: bad input (exit 2), found by the check or by a run.
        RunFailedError: a run failed; its error (the cause) is in the message.
    """
    name, output_sets = _checked_target(spec)
    parent = _parent_run(spec, name)
    tracking = replace(spec.tracking, parent_run_id=parent.run_id) if parent is not None else spec.tracking
    one_run = replace(spec, command="train", max_iterations=iterations, processes=None, nodes=NodeLayout(), tracking=tracking)
    base = keep if keep is not None else Path(tempfile.gettempdir()) / f"mmar-verify-{secrets.token_hex(4)}"
    manifests = []
    try:
        with RunSession(base, None, "verify"), _ending(parent):
            comparison = _train_twice_and_compare(one_run, base, manifests, parent, verbose, output_sets)
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)  # nothing left in the temp folder; --keep keeps both runs
    return comparison, manifests if keep is not None else []


def _checked_target(spec: RunSpec) -> tuple[str, Callable[[Path], list[str]]]:
    """Check the MMAR or bundle (exit 2 before anything runs); its name, and the --set words that send a run's outputs to a folder."""
    from runner.bundle.cli import is_bundle

    if is_bundle(Path(spec.mmar), spec.config):
        from runner.bundle.train import CKPT_DIR_ID, OUTPUT_DIR_ID, prepare_bundle_run

        run = prepare_bundle_run(spec)
        folders = [i for i in (CKPT_DIR_ID, OUTPUT_DIR_ID) if i in run.bundle.config]  # the first holds the manifest
        if not folders:
            raise MmarRunnerError(f"{spec.mmar}: verify sends each run's outputs to its own folder through the bundle's "
                                  f"{CKPT_DIR_ID} or {OUTPUT_DIR_ID} item, and it has neither",
                                  hint=f'add "{CKPT_DIR_ID}": "$@bundle_root + \'/models\'" and use it in its savers')
        return run.root.name, lambda out: [f"{folders[0]}={out}", *[f"{i}={out / 'eval'}" for i in folders[1:]]]
    from runner.components.check import check_mmar
    from runner.config.load import load_train_config

    loaded = load_train_config(Path(spec.mmar), spec.config, spec.environment, spec.config_sets, strict=False)
    check_mmar(loaded)
    return loaded.mmar.root.name, lambda out: [f"MMAR_CKPT_DIR={out}"]


def _train_twice_and_compare(one_run: RunSpec, base: Path, manifests: list[Path], parent: MlflowRun | None,
                             verbose: bool, output_sets: Callable[[Path], list[str]]) -> Comparison:
    """The two runs, each with its own TMPDIR inside ``base``: what they put in a temp folder goes with it."""
    scratch = base / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}
    for index in (1, 2):
        out = base / f"run{index}"
        words = [sys.executable, "-m", "runner", *worker_argv(one_run.with_sets(*output_sets(out)))]
        done = subprocess.run([*words, *(["-v"] if verbose else [])], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            if verbose:
                sys.stderr.write(done.stderr)  # the run's own output, its traceback included
            cause = run_error(done.stderr)
            if done.returncode == BAD_INPUT_EXIT:
                raise MmarRunnerError(f"run {index} of mmar verify refused its input: {cause}")
            raise RunFailedError(f"run {index} of mmar verify failed (exit {done.returncode}): {cause}")
        manifests.append(out / MANIFEST_NAME)
    if not any(scratch.iterdir()):
        scratch.rmdir()
    comparison = compare_runs(manifests[0], manifests[1])
    if parent is not None:
        verdict = "bit-identical" if comparison.identical else f"diverged: first tensor {comparison.first_diverging_tensor}"
        parent.tags({"mmar.verify": verdict, "mmar.weights_digest": str(comparison.digest or "")})
    return comparison


RUN_ERROR = "error: "


def run_error(stderr: str, fallback_lines: int = 5) -> str:
    """A failed run's own error out of its output: its last ``error:`` line with the hint lines after it.

    The CLI writes that block last, after logs and warnings; a run that died without one (a signal)
    is shown by its last lines instead.
    """
    lines = stderr.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(RUN_ERROR)]
    if not starts:
        return "\n".join(["", *lines[-fallback_lines:]]) if lines else "(it printed nothing)"
    block = [lines[starts[-1]][len(RUN_ERROR):]]
    block += [line.strip() for line in lines[starts[-1] + 1:] if line.startswith("  hint: ")]
    return "; ".join(block)


def _parent_run(spec: RunSpec, name: str) -> MlflowRun | None:
    """With tracking, one MLflow run whose two children are verify's runs (exit 3 when the server is down)."""
    if not spec.tracking.enabled:
        return None
    parent = MlflowRun(spec.tracking)
    parent.start(name, {"command": "verify", "mmar_root": spec.mmar}, {})
    return parent


@contextmanager
def _ending(parent: MlflowRun | None) -> Iterator[None]:
    """The parent run ends FINISHED when both runs were compared, FAILED when a run failed."""
    try:
        yield
    except BaseException:
        if parent is not None:
            parent.end("FAILED")
        raise
    if parent is not None:
        parent.end("FINISHED")


def explain(comparison: Comparison) -> list[str]:
    """Lines for the user: verdict, first diverging tensor, settings that could explain it."""
    if comparison.identical:
        return [f"bit-identical: {comparison.digest}"]
    lines = [f"diverged: {comparison.differing_tensors} tensor(s) differ; first in model order: {comparison.first_diverging_tensor}"]
    if comparison.settings:
        lines.append("settings that differ between the two runs and can change numbers:")
        lines += [f"  {difference.render()}" for difference in comparison.settings]
    else:
        lines.append("no recorded setting differs: the difference comes from inside the pipeline, e.g. a random source "
                     "the runner does not seed (a custom transform drawing from its own unseeded generator), or a "
                     "nondeterministic operation not covered by torch's deterministic mode")
    return lines
