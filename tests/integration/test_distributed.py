"""torchrun on CPU: two gloo processes train the demo bundle; rank 0 alone writes; runs repeat bit for bit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


RANK_PREEMPT = '''import os
import signal
from pathlib import Path

from ignite.engine import Events


class RankPreempt:
    """SIGTERM to this process on one rank only, once, at a trainer event of a chosen epoch (a marker file says it did)."""

    def __init__(self, rank, epoch, event, marker):
        self.rank, self.epoch, self.event, self.marker = rank, epoch, event, Path(marker)

    def attach(self, engine):
        engine.add_event_handler(getattr(Events, self.event), self)

    def __call__(self, engine):
        if int(os.environ["RANK"]) == self.rank and engine.state.epoch == self.epoch and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGTERM)
'''


def mmar_preempting_rank_1(make_mmar: Callable[..., Path], marker: Path, event: str, epoch: int) -> Path:
    def edit(config: dict[str, Any]) -> None:
        # First of the handlers: at EPOCH_COMPLETED it runs before the epoch's validation and the runner's handlers.
        config["train"]["handlers"].insert(0, {"path": "preempt.RankPreempt",
                                               "args": {"rank": 1, "epoch": epoch, "event": event, "marker": str(marker)}})

    return make_mmar(edit=edit, custom={"preempt.py": RANK_PREEMPT})


@pytest.mark.parametrize(("event", "epoch"), [("EPOCH_COMPLETED", 2), ("ITERATION_COMPLETED", 4)],
                         ids=["after-the-epochs-last-step", "in-the-last-epoch"])
def test_sigterm_to_rank_1_alone_resumes_or_finishes_bit_for_bit(make_mmar: Callable[..., Path], tmp_path: Path, event: str,
                                                                epoch: int) -> None:
    """One pod of a two-node job is preempted: only rank 1 gets SIGTERM, and rank 0 learns of it from the ranks' reductions.

    After the epoch's last step (during its validation) the step-end reduction has already passed:
    rank 1 alone used to stop at the epoch end while rank 0 trained on, and both waited forever. In
    the last epoch a checkpoint at its end made the restart train the whole run again on top of its
    own weights (ignite starts a finished run over): a completed run with other weights.
    """
    marker = tmp_path / "marker"
    root = mmar_preempting_rank_1(make_mmar, marker, event, epoch)
    words = ["train", str(root), "--nproc", "2", "--no-progress", "--set", *TINY_SET, "epochs=4"]
    marker.touch()
    reference = run_cli(*words, f"MMAR_CKPT_DIR={tmp_path / 'reference'}", timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = json.loads((tmp_path / "reference" / "run_manifest.json").read_text())["weights_digest"]
    marker.unlink()
    out = tmp_path / "run"
    stopped = run_cli(*words, f"MMAR_CKPT_DIR={out}", timeout=600)
    assert marker.exists(), "rank 1 was not signalled"
    if epoch == 4:  # nothing left to resume: the run finishes
        assert stopped.returncode == 0, stopped.stderr[-3000:]
        assert "SIGTERM in the last epoch: finishing the run" in stopped.stderr
    else:
        assert stopped.returncode == PREEMPTED_EXIT, stopped.stderr[-3000:]
        assert json.loads((out / "run_manifest.json").read_text())["status"] == "preempted"
        resumed = run_cli(*words, f"MMAR_CKPT_DIR={out}", timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        # 1 step per epoch: epoch 2 ends at iteration 2, where every rank saved and stopped
        assert json.loads((out / "run_manifest.json").read_text())["resumed_from"].endswith("ckpt-000000002.pt")
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["iterations"] == 4
    assert manifest["weights_digest"] == expected


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
