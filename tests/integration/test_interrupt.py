"""Ctrl-C (SIGINT) is handled like SIGTERM: a resume checkpoint, manifest "interrupted", one clear line, exit 130,
and the same command continues bit for bit; under torchrun, where Ctrl-C reaches the whole process group, too."""

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

from runner.errors import INTERRUPTED_EXIT
from tests.conftest import REPO, TINY_SET, run_cli
from tests.integration.test_resume import SELF_PREEMPT, manifest, train

pytestmark = pytest.mark.slow

SELF_INTERRUPT = SELF_PREEMPT.replace("signal.SIGTERM", "signal.SIGINT")


def mmar_with_ctrl_c(make_mmar: Callable[..., Path], tmp_path: Path, at_iteration: int) -> Path:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"path": "interrupt.SelfPreempt",
                                            "args": {"at_iteration": at_iteration, "marker": str(tmp_path / "marker")}})

    return make_mmar(edit=edit, custom={"interrupt.py": SELF_INTERRUPT})


def test_ctrl_c_writes_a_resume_checkpoint_says_interrupted_and_exits_130(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = mmar_with_ctrl_c(make_mmar, tmp_path, 3)
    (tmp_path / "marker").touch()
    reference = train(root, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    (tmp_path / "marker").unlink()

    out = tmp_path / "run"
    stopped = train(root, out)
    assert stopped.returncode == INTERRUPTED_EXIT, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr and "KeyboardInterrupt" not in stopped.stderr
    assert "warning: Ctrl-C: finishing the current step, then writing a resume checkpoint" in stopped.stderr
    assert f"error: interrupted (Ctrl-C) after iteration 3; a resume checkpoint is in {out / 'resume'}" in stopped.stderr
    stopped_manifest = manifest(out)
    assert stopped_manifest["status"] == "interrupted" and stopped_manifest["resume_checkpoint"].endswith("ckpt-000000003.pt")

    resumed = train(root, out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert manifest(out)["resumed_from"].endswith("ckpt-000000003.pt")
    assert manifest(out)["weights_digest"] == manifest(tmp_path / "reference")["weights_digest"]


def test_ctrl_c_to_a_torchrun_process_group_ends_cleanly_and_resumes(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to every process of the foreground group: launcher, torchrun's agent, both workers."""
    root = make_mmar()
    out = tmp_path / "run"
    words = ["train", str(root), "--nproc", "2", "--no-progress", "--set", *TINY_SET, "epochs=8", f"MMAR_CKPT_DIR={out}"]
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "runner", *words], cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=stderr, text=True, start_new_session=True)  # its own group, as a terminal's job
        deadline = time.time() + 300
        while "epoch 2" not in log.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=300)
    said = log.read_text()
    assert code == INTERRUPTED_EXIT, said[-3000:]
    assert "Traceback" not in said and "SignalException" not in said, said[-3000:]
    assert said.count("warning: Ctrl-C: finishing the current step") == 1, said[-3000:]
    assert said.count("interrupted (Ctrl-C)") == 1, said[-3000:]
    stopped = json.loads((out / "run_manifest.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["resume_checkpoint"], stopped

    resumed = run_cli(*words, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = json.loads((out / "run_manifest.json").read_text())
    assert final["status"] == "completed" and final["resumed_from"] == stopped["resume_checkpoint"]


def test_ctrl_c_to_a_process_group_with_dataloader_workers_still_checkpoints(make_mmar: Callable[..., Path],
                                                                            tmp_path: Path) -> None:
    """Forked DataLoader workers get the terminal's Ctrl-C too; one dying of it would fail the step in progress."""
    root = make_mmar()
    out = tmp_path / "run"
    words = ["train", str(root), "--no-progress", "--set", *TINY_SET, "epochs=8", "num_workers=2", f"MMAR_CKPT_DIR={out}"]
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "runner", *words], cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=stderr, text=True, start_new_session=True)
        deadline = time.time() + 300
        while "epoch 2" not in log.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=300)
    said = log.read_text()
    assert code == INTERRUPTED_EXIT, said[-3000:]
    assert said.count("warning: Ctrl-C: finishing the current step") == 1 and "exited unexpectedly" not in said, said[-3000:]
    stopped = json.loads((out / "run_manifest.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["resume_checkpoint"], stopped
