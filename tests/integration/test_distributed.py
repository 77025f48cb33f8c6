"""torchrun on CPU: two gloo processes train the demo bundle; rank 0 alone writes; runs repeat bit for bit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.workflow.lock import LOCK_NAME
from tests.cli_helpers import invoke
from tests.conftest import TINY_SET, run_cli
from tests.integration.test_bad_input import assert_bad_input

pytestmark = pytest.mark.slow


def train_two_processes(root: Path, out: Path) -> dict:
    done = run_cli("train", str(root), "--nproc", "2", "--set", *TINY_SET, f"MMAR_CKPT_DIR={out}", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("weights:") == 1, "one summary, from rank 0"
    return json.loads((out / "run_manifest.json").read_text())


def test_two_gloo_processes_train_identically_and_only_rank_0_writes(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = make_mmar()
    first = train_two_processes(root, tmp_path / "a")
    second = train_two_processes(root, tmp_path / "b")
    assert first["world_size"] == 2 and first["status"] == "completed"
    assert first["weights_digest"] == second["weights_digest"]
    # 4 training cases over 2 ranks, batch 2: one iteration per epoch on each rank.
    assert first["iterations"] == 2 and first["planned_iterations"] == 2
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    events = [name for name in files if name.startswith("events.out.tfevents")]
    assert sorted(set(files) - set(events)) == [LOCK_NAME, "final_model.pt", "model.pt", "run_manifest.json", "train_stats.json"]
    assert len({name.split(".")[4] for name in events}) == 1, f"event files from more than one process: {events}"


def test_multi_gpu_without_a_gpu_is_bad_input(make_mmar: Callable[..., Path]) -> None:
    result = invoke("train", str(make_mmar()), "--set", *TINY_SET, "multi_gpu=True")
    assert_bad_input(result, "config/config_train.json: multi_gpu: multi_gpu is true and no GPU is visible", "--nproc")
