"""`mmar verify` as the GPU check runs it: two trainings in fresh processes, the verdict, and why.

The user's command is run as a user runs it (``python -m runner verify MMAR --keep DIR --set ...``);
its exit status is the verdict (0 bit-identical, 1 diverged). The two kept run manifests are then
compared with the runner's own :func:`runner.workflow.verify.compare`, for the figures the report
needs: the first tensor that differs, how many do, and which recorded settings differ.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import PYTHON, VariantFailed

MANIFEST = "run_manifest.json"
VERDICTS = {0: "bit-identical", 1: "diverged"}


def verify_command(mmar: Path, keep: Path, iterations: int, sets: list[str]) -> list[str]:
    """``python -m runner verify`` (no console script on the GPU machine: the runner runs from the checkout)."""
    return [PYTHON, "-m", "runner", "verify", str(mmar), "--iterations", str(iterations), "--keep", str(keep), "--set", *sets]


def run_verify(mmar: Path, keep: Path, iterations: int, sets: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run verify once; the verdict, wall time, and the comparison of the two runs it kept.

    Raises:
        VariantFailed: verify exited with neither 0 nor 1 (a run failed, or bad input).
    """
    argv = verify_command(mmar, keep, iterations, sets)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in VERDICTS:
        raise VariantFailed(f"mmar verify exited {done.returncode}\ncommand: {' '.join(argv)}\n"
                            f"--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}")
    first, second = (json.loads((keep / f"run{i}" / MANIFEST).read_text(encoding="utf-8")) for i in (1, 2))
    return {"verdict": VERDICTS[done.returncode], "exit_code": done.returncode, "wall_s": wall, "command": argv,
            "output": done.stdout.strip().splitlines(), **comparison(first, second)}


def comparison(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """What the runner's compare() says about two manifests, and the facts of the first run that matter here."""
    from runner.workflow.verify import compare

    result = compare(first, second)
    return {
        "identical": result.identical,
        "weights_digests": [first.get("weights_digest"), second.get("weights_digest")],
        "first_diverging_tensor": result.first_diverging_tensor,
        "differing_tensors": result.differing_tensors,
        "tensors": len(first.get("tensor_digests") or {}),
        "settings_differences": [d.render() for d in result.settings],
        "iterations": first.get("iterations"),
        "amp": first.get("amp"),
        "determinism": first.get("determinism"),
        "device": first.get("device"),
        "versions": first.get("versions"),
        "time_to_first_iteration_s": [first.get("time_to_first_iteration_s"), second.get("time_to_first_iteration_s")],
    }
