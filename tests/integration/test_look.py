"""Runs you can look at: a real demo training logs its learning rate per epoch (train_stats.json, TensorBoard),
records its variables, says how to look at it, and mmar show draws it."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_SET, run_cli


def decay_the_rate_each_epoch(config: dict[str, Any]) -> None:
    config["train"]["lr_scheduler"]["args"]["step_size"] = 1  # StepLR, gamma 0.1, stepped by LrScheduleHandler per epoch


@pytest.mark.slow
def test_a_demo_run_logs_its_rate_records_its_variables_and_shows(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "out"
    done = run_cli("train", str(make_mmar(edit=decay_the_rate_each_epoch)), "--no-progress", "--set", *TINY_SET,
                   "learning_rate=0.001", f"MMAR_CKPT_DIR={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == f"look:          mmar show {out}   or   tensorboard --logdir {out}"

    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["learning_rate_per_epoch"] == pytest.approx([1e-3, 1e-4])
    events = EventAccumulator(str(out))  # the demo's TensorBoardStatsHandler of train.handlers, log_dir MMAR_CKPT_DIR
    events.Reload()
    rate = events.Scalars("learning_rate")
    assert [e.step for e in rate] == [1, 2] and [e.value for e in rate] == pytest.approx([1e-3, 1e-4])

    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["variables"]["learning_rate"] == 0.001 and manifest["variables"]["patch_size"] == [32, 32, 32]
    assert manifest["variables"]["batch_size"] == 2, "config values too, not only --set"
    assert manifest["overrides"]["learning_rate"] == 0.001 and "batch_size" not in manifest["overrides"]
    assert manifest["final_loss"] == stats["train_loss_per_epoch"][-1]

    shown = run_cli("show", str(out))
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "learning rate: 0.001 -> 0.0001" in shown.stdout.splitlines()
    png = (out / "run_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1260, 360)
