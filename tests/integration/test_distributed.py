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

from runner.data.content_digest import DataDigest, FileEntry
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


def _share_digest(rank: int, init: str, out: str) -> None:
    """One of two gloo processes: rank 0 computes a data digest (then fails to), rank 1 receives what it got."""
    import torch.distributed as dist

    from runner.data.content_digest import DataDigest, FileEntry
    from runner.errors import ConfigError, ConfigIssue, MmarRunnerError
    from runner.workflow.data_record import shared_from_main

    def missing_file() -> DataDigest:
        raise ConfigError([ConfigIssue("dataset.json", "training[0].image", "x.nii.gz: not found")])

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    data = DataDigest.from_entries([FileEntry("imagesTr/a.nii.gz", 1, "a" * 64)])
    lines = [shared_from_main(lambda: data if rank == 0 else DataDigest.from_entries([]), rank == 0, True).digest]
    try:
        shared_from_main(missing_file, rank == 0, True)
    except MmarRunnerError as exc:
        lines.append(f"{type(exc).__name__}: {exc.render()}")
    dist.destroy_process_group()
    Path(f"{out}.{rank}").write_text("\n".join(lines))


def test_rank_0_hashes_the_data_and_every_rank_gets_its_digest_or_its_error(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_share_digest, args=(f"file://{tmp_path / 'init'}", str(tmp_path / "out")), nprocs=2)
    rank0, rank1 = ((tmp_path / f"out.{rank}").read_text().splitlines() for rank in (0, 1))
    assert rank0[0] == rank1[0] == DataDigest.from_entries([FileEntry("imagesTr/a.nii.gz", 1, "a" * 64)]).digest
    assert rank0[1:] == ["ConfigError: 1 problem found:", "dataset.json: training[0].image: x.nii.gz: not found"]
    assert rank1[1:] == ["MmarRunnerError: rank 0 could not hash the data: 1 problem found:",
                         "dataset.json: training[0].image: x.nii.gz: not found"]
