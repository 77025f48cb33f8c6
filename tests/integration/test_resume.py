"""Preemption: SIGTERM -> checkpoint after the current step -> exit 75 -> the same command resumes, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, TINY_SET, run_cli

pytestmark = pytest.mark.slow

PREEMPTED = 75
SELF_PREEMPT = '''import os
import signal
from pathlib import Path

from ignite.engine import Events


class SelfPreempt:
    """Sends this process SIGTERM once, after a chosen iteration (the marker file says it already did)."""

    def __init__(self, at_iteration, marker):
        self.at_iteration = at_iteration
        self.marker = Path(marker)

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine):
        if engine.state.iteration == self.at_iteration and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGTERM)
'''


def mmar_with_preemption(make_mmar: Callable[..., Path], tmp_path: Path, at_iteration: int) -> Path:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"path": "preempt.SelfPreempt",
                                            "args": {"at_iteration": at_iteration, "marker": str(tmp_path / "marker")}})

    return make_mmar(edit=edit, custom={"preempt.py": SELF_PREEMPT})


EVERY_EPOCH = {"MMAR_RESUME_EVERY_S": "0"}  # a resume checkpoint at every epoch end, not once a minute


def train(root: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("train", str(root), "--set", *TINY_SET, "epochs=4", f"MMAR_CKPT_DIR={out}", *extra, env=env)


def checkpoints(out: Path) -> list[str]:
    return sorted(path.name for path in (out / "resume").glob("ckpt-*.pt"))


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run_manifest.json").read_text())


@pytest.mark.parametrize(("at_iteration", "where"), [(3, "mid-epoch"), (4, "epoch boundary")])
def test_resume_after_sigterm_is_bit_identical(make_mmar: Callable[..., Path], tmp_path: Path, at_iteration: int, where: str) -> None:
    root = mmar_with_preemption(make_mmar, tmp_path, at_iteration)
    (tmp_path / "marker").touch()
    reference = train(root, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    (tmp_path / "marker").unlink()

    out = tmp_path / "preempted"
    stopped = train(root, out)
    assert stopped.returncode == PREEMPTED, stopped.stderr[-2000:]
    assert "stopped on SIGTERM" in stopped.stderr and "Traceback" not in stopped.stderr
    assert manifest(out)["status"] == "preempted"
    # 2 iterations per epoch: iteration 3 is mid-epoch 2; iteration 4 ends it (the checkpoint waits for its validation).
    assert manifest(out)["iterations"] == at_iteration

    resumed = train(root, out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = manifest(out)
    assert final["resumed_from"].endswith(f"ckpt-{at_iteration:09d}.pt"), where
    assert final["weights_digest"] == manifest(tmp_path / "reference")["weights_digest"], where
    assert final["key_metric"] == manifest(tmp_path / "reference")["key_metric"]
    assert final["final_loss"] == manifest(tmp_path / "reference")["final_loss"] is not None
    stats, reference_stats = (json.loads((folder / "train_stats.json").read_text()) for folder in (out, tmp_path / "reference"))
    assert stats["learning_rate_per_epoch"] == reference_stats["learning_rate_per_epoch"] == [2e-4] * 4, where
    assert not (out / "resume").exists(), "a completed run leaves no resume checkpoints behind"


def test_a_truncated_checkpoint_is_skipped_for_the_previous_one(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = mmar_with_preemption(make_mmar, tmp_path, 3)
    (tmp_path / "marker").touch()
    assert train(root, tmp_path / "reference").returncode == 0
    (tmp_path / "marker").unlink()
    out = tmp_path / "preempted"
    assert train(root, out, env=EVERY_EPOCH).returncode == PREEMPTED
    assert checkpoints(out) == ["ckpt-000000002.pt", "ckpt-000000003.pt"]  # epoch 1's end, then the SIGTERM one
    newest = out / "resume" / "ckpt-000000003.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    resumed = train(root, out, env=EVERY_EPOCH)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "ckpt-000000003.pt is incomplete or unreadable" in resumed.stderr
    assert manifest(out)["resumed_from"].endswith("ckpt-000000002.pt")
    assert manifest(out)["weights_digest"] == manifest(tmp_path / "reference")["weights_digest"]


def test_sigterm_from_outside_after_the_first_epoch_checkpoint(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = make_mmar()
    words = ["train", str(root), "--set", *TINY_SET, "epochs=30"]
    reference = run_cli(*words, f"MMAR_CKPT_DIR={tmp_path / 'reference'}")
    assert reference.returncode == 0
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "runner", *words, f"MMAR_CKPT_DIR={out}"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **EVERY_EPOCH})
    deadline = time.time() + 120
    while not list((out / "resume").glob("ckpt-*.pt")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.fail("the run finished before SIGTERM arrived; make it longer")
    assert process.returncode == PREEMPTED
    resumed = run_cli(*words, f"MMAR_CKPT_DIR={out}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert manifest(out)["weights_digest"] == manifest(tmp_path / "reference")["weights_digest"]


def test_two_preemptions_in_one_epoch(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """batch_size 1: 4 iterations per epoch; stopped after iterations 5 and 6, both inside epoch 2."""
    def edit(config: dict[str, Any]) -> None:
        for at in (5, 6):
            config["train"]["handlers"].append({"path": "preempt.SelfPreempt",
                                                "args": {"at_iteration": at, "marker": str(tmp_path / f"marker{at}")}})

    root = make_mmar(edit=edit, custom={"preempt.py": SELF_PREEMPT})
    for at in (5, 6):
        (tmp_path / f"marker{at}").touch()
    assert train(root, tmp_path / "reference", "batch_size=1").returncode == 0
    for at in (5, 6):
        (tmp_path / f"marker{at}").unlink()
    out = tmp_path / "run"
    assert train(root, out, "batch_size=1").returncode == PREEMPTED
    # The default interval (60 s) wrote nothing at epoch 1's end (iteration 4) of this seconds-long run.
    assert checkpoints(out) == ["ckpt-000000005.pt"]
    assert train(root, out, "batch_size=1").returncode == PREEMPTED
    assert manifest(out)["iterations"] == 6
    assert train(root, out, "batch_size=1").returncode == 0
    assert manifest(out)["weights_digest"] == manifest(tmp_path / "reference")["weights_digest"]
