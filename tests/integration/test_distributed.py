"""torchrun on CPU: two gloo processes train the demo bundle; rank 0 alone writes; runs repeat bit for bit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import PREEMPTED_EXIT
from runner.workflow.lock import LOCK_NAME
from tests.cli_helpers import invoke
from tests.conftest import REPO, TINY_SET, run_cli
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
    assert sorted(set(files) - set(events)) == [LOCK_NAME, "data_files.json", "final_model.pt", "model.pt", "run_manifest.json",
                                             "train_stats.json"]
    assert len({name.split(".")[4] for name in events}) == 1, f"event files from more than one process: {events}"


def test_sigterm_to_two_processes_resumes_bit_for_bit(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """Each rank continues from its own RNG states (rank 0 gathers them into the checkpoint); another world size is refused."""
    root = make_mmar()
    words = ["train", str(root), "--nproc", "2", "--no-progress", "--set", *TINY_SET, "epochs=8"]
    reference = run_cli(*words, f"MMAR_CKPT_DIR={tmp_path / 'reference'}", timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]
    out = tmp_path / "run"
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "runner", *words, f"MMAR_CKPT_DIR={out}"], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        deadline = time.time() + 300
        while "epoch 2" not in log.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=300) == PREEMPTED_EXIT, log.read_text()[-3000:]
    other_world = run_cli("train", str(root), "--set", *TINY_SET, "epochs=8", f"MMAR_CKPT_DIR={out}", timeout=600)
    assert other_world.returncode == 2 and "it ran as 2 process(es), this run has 1" in other_world.stderr
    resumed = run_cli(*words, f"MMAR_CKPT_DIR={out}", timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["resumed_from"] and manifest["world_size"] == 2
    assert manifest["weights_digest"] == json.loads((tmp_path / "reference" / "run_manifest.json").read_text())["weights_digest"]


def test_multi_gpu_without_a_gpu_is_bad_input(make_mmar: Callable[..., Path]) -> None:
    result = invoke("train", str(make_mmar()), "--set", *TINY_SET, "multi_gpu=True")
    assert_bad_input(result, "config/config_train.json: multi_gpu: multi_gpu is true and no GPU is visible", "--nproc")
