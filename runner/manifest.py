"""The run manifest (``<MMAR_CKPT_DIR>/run_manifest.json``) and canonical tensor digests.

What a manifest holds is gathered here; when it is written (``running``, then ``completed``,
``failed`` or ``preempted``) is the run session's business (:mod:`runner.workflow.session`), so the
file beside the weights always describes the run that wrote them.

``weights_digest`` hashes tensor *contents* (name, dtype, shape, raw bytes in name order), never
the bytes of a ``torch.save`` file, whose zip records can differ for identical tensors.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigIssue
from runner.jsonio import canonical_json
from runner.run_spec import RunSpec, reproduce_command

if TYPE_CHECKING:
    from runner.config.load import LoadedConfig

MANIFEST_NAME = "run_manifest.json"
TRAIN_STATS_NAME = "train_stats.json"  # per-epoch loss, metrics and learning rate, beside the manifest (mmar show draws it)
OUTPUT_VARIABLES = ("MMAR_CKPT_DIR", "MMAR_EVAL_OUTPUT_PATH")
MANIFEST_VERSION = 1


def tensor_bytes(tensor: Any) -> bytes:
    """Raw little-endian bytes of a tensor's contents, whatever its dtype (bf16 included)."""
    import torch

    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    return flat.view(torch.uint8).numpy().tobytes()


def weights_digest(state: Mapping[str, Any]) -> str:
    """sha256 over (name, dtype, shape, bytes) of every tensor, in sorted name order."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if not isinstance(value, torch.Tensor):
            continue
        digest.update(name.encode())
        digest.update(str(value.dtype).encode())
        digest.update(str(tuple(value.shape)).encode())
        digest.update(tensor_bytes(value))
    return "sha256:" + digest.hexdigest()


def tensor_digests(state: Mapping[str, Any]) -> dict[str, str]:
    """Per-tensor sha256 (dtype, shape, bytes), in the model's own order: where two runs first diverge."""
    import torch

    found = {}
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            digest = hashlib.sha256(str(value.dtype).encode() + str(tuple(value.shape)).encode() + tensor_bytes(value))
            found[name] = "sha256:" + digest.hexdigest()
    return found


def model_state(model: Any) -> Mapping[str, Any]:
    """The state dict of a model, unwrapped from DataParallel/DDP so names match across setups."""
    from torch.nn import DataParallel
    from torch.nn.parallel import DistributedDataParallel

    inner = model.module if isinstance(model, (DataParallel, DistributedDataParallel)) else model
    return inner.state_dict()


def config_digest(resolved: Mapping[str, Any], root: Path, outputs: Mapping[str, str] | None = None) -> str:
    """sha256 of the substituted config, with the MMAR root written as ``$MMAR_ROOT``.

    Output folders (``outputs``: variable name -> value) are written as ``$NAME`` too: where a run
    writes cannot change its numbers. The digest then survives moving the MMAR folder or the
    outputs but changes with any semantic edit.
    """
    text = canonical_json(resolved)
    for name, value in sorted((outputs or {}).items(), key=lambda item: -len(item[1])):
        if value:
            text = text.replace(canonical_json(value)[1:-1], f"${name}")
    text = text.replace(canonical_json(str(root))[1:-1], "$MMAR_ROOT")
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of each file under ``folder`` by relative path (caches excluded); empty when absent.

    For ``custom/``: two runs with the same config but different BYOC code must not look alike, and
    a resume after an edit must name the file that changed.
    """
    if not folder.is_dir():
        return {}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return {path.relative_to(folder).as_posix(): file_digest(path) for path in files}


def folder_digest(folder: Path) -> str | None:
    """sha256 over the relative paths and digests of a folder's files (see :func:`file_digests`); None if absent."""
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for name, file_hash in file_digests(folder).items():
        digest.update(name.encode() + b"\0")
        digest.update(file_hash.encode() + b"\0")
    return "sha256:" + digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("mmar-runner", "torch", "monai", "pytorch-ignite", "numpy", "pydantic", "nibabel"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    if versions["mmar-runner"] is None:  # run from a source tree that is not installed (the GPU check)
        from runner import __version__

        versions["mmar-runner"] = f"{__version__} (not installed)"
    return versions


def version_lines() -> list[str]:
    """``mmar --version``: the runner's version, then what its numbers depend on (read from metadata: no torch import)."""
    versions = library_versions()
    return [f"mmar-runner {versions['mmar-runner']}",
            f"torch {versions['torch']}, MONAI {versions['monai']}, pytorch-ignite {versions['pytorch-ignite']}, "
            f"Python {versions['python']}"]


def device_fingerprint(device: Any) -> dict[str, Any]:
    """What the numbers depend on: device model, SM count, driver and libraries, CPU ISA, threads."""
    import torch

    info: dict[str, Any] = {
        "device": str(device),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_capability": _cpu_capability(),
        "torch_num_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpu_name": None,
        "gpu_capability": None,
        "gpu_sm_count": None,
        "gpu_count": 0,
    }
    if torch.cuda.is_available() and str(device).startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        info.update(
            gpu_name=props.name,
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_sm_count=props.multi_processor_count,
            gpu_memory_bytes=props.total_memory,
            gpu_count=torch.cuda.device_count(),
            nccl=".".join(map(str, torch.cuda.nccl.version())) if hasattr(torch.cuda, "nccl") else None,
            driver=_nvidia_driver(),
        )
    return info


def _cpu_capability() -> str | None:
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:
        return None


def _nvidia_driver() -> str | None:
    try:
        return Path("/proc/driver/nvidia/version").read_text().split("Kernel Module")[1].split()[0]
    except (OSError, IndexError):
        return None


def spec_of(loaded: LoadedConfig, command: str) -> RunSpec:
    """The run a Python caller asked for by loading a config: its ``--set`` words from the parsed overrides."""
    return RunSpec(command, str(loaded.mmar.root), sets=tuple(f"{key}={_literal(value)}" for key, value in loaded.overrides.items()),
                   progress=False)


def _literal(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return canonical_json(value)
    return str(value)


def reproduce(loaded: LoadedConfig, spec: RunSpec, world_size: int) -> str:
    """The command line that repeats this run, files named by absolute path and the seed made explicit."""
    mmar = loaded.mmar
    located = replace(spec, mmar=str(mmar.root), config=str(mmar.config_file),
                      environment=str(mmar.environment_file) if mmar.environment_file else None)
    return reproduce_command(located, loaded.seed, world_size)


def json_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as plain JSON data (anything else as its text), so a manifest reader never meets an object."""
    return json.loads(canonical_json(dict(values)))


def invocation() -> str:
    return shlex.join([os.path.basename(sys.argv[0]) or "mmar", *sys.argv[1:]])


def manifest_base(
    loaded: LoadedConfig,
    spec: RunSpec,
    started_at: datetime,
    flags: Mapping[str, Any],
    amp_in_force: bool,
    device: Any,
    datalist_digests: Mapping[str, str],
    warnings: Sequence[ConfigIssue],
    supplied: Mapping[str, str] | None = None,
    world_size: int = 1,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts known before training starts; a running, failed or completed manifest adds to them."""
    mmar = loaded.mmar
    return {
        "command": spec.command,
        "started_at": started_at.isoformat(),
        "mmar_root": str(mmar.root),
        "config_file": str(mmar.config_file),
        "environment_file": str(mmar.environment_file) if mmar.environment_file else None,
        "dialect": loaded.dialect,
        "seed": loaded.seed,
        "variables": json_data(loaded.variables),  # every {VAR} as resolved (config < environment.json < --set): mmar diff
        "overrides": json_data(loaded.overrides),  # the --set values alone
        "determinism": dict(flags),
        "amp": {"requested": loaded.model.amp, "in_force": amp_in_force},
        "config_digest": config_digest(loaded.resolved, mmar.root, {name: str(loaded.variables.get(name) or "")
                                                                    for name in OUTPUT_VARIABLES}),
        "datalist_digests": dict(datalist_digests),
        "data": dict(data) if data is not None else None,  # the files the datalists name (runner.workflow.data_record)
        "custom_code_digest": folder_digest(mmar.custom_dir),
        "max_epochs": getattr(loaded.model, "epochs", None),
        "versions": library_versions(),
        "device": device_fingerprint(device),
        "warnings": [w.render() for w in warnings],
        "runner_supplied": dict(supplied or {}),  # what Clara wired implicitly and the runner filled in (cache folders)
        "search_point": loaded.search_point,  # an AutoML search space: the point this run trained
        "image": spec.image,  # the container image it ran in, as named when built or by the pod; None on a host
        "invocation": invocation(),
        "reproduce": reproduce(loaded, spec, world_size),
    }
