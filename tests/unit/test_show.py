"""mmar show: a run's summary from its manifest, its curves from train_stats.json into a PNG; mmar --version."""

from __future__ import annotations

import importlib.metadata
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, write_json

MANIFEST = {
    "manifest_version": 1, "command": "train", "status": "completed", "mmar_root": "/mmars/spleen_ct_seg",
    "config_file": "/mmars/spleen_ct_seg/config/config_train.json", "started_at": "2026-12-01T04:37:44+00:00", "duration_s": 66.2,
    "seed": 0, "epochs_completed": 3, "iterations": 6, "planned_iterations": 6, "ended_early": False,
    "key_metric": {"name": "val_mean_dice", "best": 0.41, "best_epoch": 2}, "final_loss": 0.6482,
    "weights_digest": "sha256:a9240e81f340", "tensor_digests": {}, "versions": {"mmar-runner": "0.1.0", "torch": "2.13.0"},
    "device": {"device": "cpu", "torch_num_threads": 2, "machine": "x86_64"},
    "reproduce": "mmar train /mmars/spleen_ct_seg --set epochs=3",
    "outputs": {"final_model": "/runs/final_model.pt", "best_model": None, "train_stats": "/runs/train_stats.json"},
}
STATS = {
    "epochs_completed": 3, "key_metric_name": "val_mean_dice", "best_validation_metric": 0.41, "best_validation_epoch": 2,
    "train_loss_per_epoch": [0.65, None, 0.6482], "train_loss_notes": ["epoch 2: the loss was not a finite number"],
    "validation_metrics_per_epoch": [{"val_mean_dice": 0.3}, {"val_mean_dice": 0.41}, {}],
    "learning_rate_per_epoch": [2e-4, 1e-4, 5e-5],
}


def run_folder(tmp_path: Path, stats: dict[str, Any] | None = STATS) -> Path:
    out = tmp_path / "models"
    write_json(out / "run_manifest.json", MANIFEST)
    if stats is not None:
        write_json(out / "train_stats.json", stats)
    return out


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_show_prints_the_summary_and_draws_one_panel_per_curve(tmp_path: Path) -> None:
    out = run_folder(tmp_path)
    done = run_cli("show", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == f"run:           {out} (train, completed)"
    assert "best:          val_mean_dice 0.4100 @ epoch 2" in lines and "final loss:    0.6482" in lines
    assert "learning rate: 0.0002 -> 5e-05" in lines and "reproduce:     mmar train /mmars/spleen_ct_seg --set epochs=3" in lines
    assert lines[-1] == f"curves:        {out / 'run_curves.png'}"
    width, height = png_size(out / "run_curves.png")
    assert (width, height) == (1260, 360), "loss, validation and learning rate: three panels"

    no_metrics = run_folder(tmp_path / "other", {**STATS, "validation_metrics_per_epoch": [{}, {}, {}], "best_validation_metric": None})
    chosen = tmp_path / "elsewhere" / "curves.png"
    chosen.parent.mkdir()
    assert run_cli("show", str(no_metrics / "run_manifest.json"), "--png", str(chosen)).returncode == 0
    assert png_size(chosen)[0] == 840 and not (no_metrics / "run_curves.png").exists(), "two panels, where --png says"


def test_show_takes_an_mmar_root_whose_models_folder_holds_the_run(tmp_path: Path) -> None:
    run_folder(tmp_path)
    done = run_cli("show", str(tmp_path))
    assert done.returncode == 0 and done.stdout.startswith(f"run:           {tmp_path / 'models'} ")


def test_without_train_stats_the_summary_is_printed_and_no_png_written(tmp_path: Path) -> None:
    out = run_folder(tmp_path, stats=None)
    done = run_cli("show", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "final loss:    0.6482" in done.stdout and "curves:" not in done.stdout
    assert f"warning: no curves: {out / 'train_stats.json'} not found" in done.stderr
    assert not (out / "run_curves.png").exists()


def test_the_stats_of_another_run_in_the_folder_are_not_drawn(tmp_path: Path) -> None:
    out = run_folder(tmp_path)  # a completed run's stats, then a run in the same folder that failed
    (out / "run_manifest.json").write_text(json.dumps({**MANIFEST, "status": "failed", "error": "boom", "outputs": None}))
    done = run_cli("show", str(out))
    assert done.returncode == 0 and "error:         boom" in done.stdout
    assert f"warning: no curves: {out / 'train_stats.json'} is not this run's" in done.stderr
    assert not (out / "run_curves.png").exists()


def test_without_matplotlib_the_summary_is_printed_and_the_exit_says_how_to_get_the_png(tmp_path: Path) -> None:
    out = run_folder(tmp_path)
    blocker = tmp_path / "no_matplotlib" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib is not installed here')\n")
    done = run_cli("show", str(out), env={"PYTHONPATH": str(blocker.parent)})
    assert done.returncode == 3, done.stderr[-2000:]
    assert "best:          val_mean_dice 0.4100 @ epoch 2" in done.stdout
    assert "the curves need matplotlib" in done.stderr and "pip install 'mmar-runner[show]'" in done.stderr
    assert not (out / "run_curves.png").exists()


@pytest.mark.parametrize("what", ["folder", "file"])
def test_show_refuses_what_is_not_a_run(tmp_path: Path, what: str) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    if what == "file":
        target = write_json(tmp_path / "stats.json", STATS)
    done = run_cli("show", str(target))
    assert done.returncode == 2 and done.stdout == ""
    assert ("no run_manifest.json in this folder" if what == "folder" else "not a run manifest") in done.stderr


def test_version_names_the_runner_torch_and_monai() -> None:
    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("mmar-runner 0.1.0")
    assert second.startswith(f"torch {importlib.metadata.version('torch')}, MONAI {importlib.metadata.version('monai')}, ")


def test_the_summary_reads_the_manifest_as_data(tmp_path: Path) -> None:
    from runner.show import load_run, render_summary

    out = run_folder(tmp_path)
    failed = {**MANIFEST, "status": "failed", "error": "out of memory", "key_metric": None, "final_loss": None}
    (out / "run_manifest.json").write_text(json.dumps(failed))
    lines = render_summary(load_run(out))
    assert lines[0].endswith("(train, failed)") and "error:         out of memory" in lines
    assert not any(line.startswith(("best:", "final loss:")) for line in lines)
    evaluated = {**MANIFEST, "command": "validate", "metrics": {"val_mean_dice": 0.8}, "outputs": ["/eval/metrics.csv"]}
    (out / "run_manifest.json").write_text(json.dumps(evaluated))
    assert "metrics:       val_mean_dice 0.8000" in render_summary(load_run(out))
