"""What the GPU check ran on: library versions against our lock, where each came from, the GPU as nvidia-smi sees it.

The borrowed machine runs its own torch (2.11 there, 2.13 in our lock) and the wheels carried from
``bench/gpu/wheels``; the result file says which is which instead of assuming the pins held.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from prepare import LOCK, normalize, read_lock

REPO = Path(__file__).resolve().parents[2]
# The libraries a training run imports, and the ones the carried wheels must agree with.
LIBRARIES = ("torch", "monai", "pytorch-ignite", "pydantic", "pydantic-core", "numpy", "nibabel", "typer", "tqdm",
             "tensorboard", "scipy", "scikit-image", "typing-extensions")
SMI_FIELDS = ("name", "driver_version", "memory.total", "clocks.max.sm", "pci.bus_id")


def versions_used() -> dict[str, dict[str, str | None]]:
    """Per library: the version imported by this interpreter and the folder it is installed in."""
    used: dict[str, dict[str, str | None]] = {"python": {"version": platform.python_version(), "location": None}}
    for name in LIBRARIES:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            used[name] = {"version": None, "location": None}
            continue
        used[name] = {"version": dist.version, "location": str(Path(str(dist.locate_file(""))).resolve())}
    used["mmar-runner"] = {"version": runner_version(), "location": str(REPO / "runner")}
    return used


def runner_version() -> str:
    """``runner.__version__``, read from the source (the check runs from a checkout, not an installed wheel)."""
    for line in (REPO / "runner" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


def against_lock(used: dict[str, dict[str, str | None]]) -> dict[str, dict[str, Any]]:
    """For every library the lock pins: locked version, used version, whether they agree (local tags ignored)."""
    lock = read_lock(LOCK)
    rows: dict[str, dict[str, Any]] = {}
    for name, info in used.items():
        pin = lock.get(normalize(name))
        if pin is None:
            continue
        version = info["version"]
        rows[name] = {"locked": pin.version, "used": version,
                      "same": version is not None and version.split("+")[0] == pin.version.split("+")[0]}
    return rows


def nvidia_smi() -> dict[str, str] | None:
    """The first GPU as ``nvidia-smi`` reports it; None where there is no nvidia-smi or it fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader"],
                          capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0 or not done.stdout.strip():
        return None
    values = [v.strip() for v in done.stdout.strip().splitlines()[0].split(",")]
    return dict(zip(SMI_FIELDS, values, strict=False))
