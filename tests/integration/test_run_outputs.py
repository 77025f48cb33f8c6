"""What a run leaves in MMAR_CKPT_DIR when it succeeds, validates sparsely, fails, or saves no best model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.load import load_train_config
from runner.errors import RunFailedError
from runner.workflow.event_files import event_records
from runner.workflow.lock import LOCK_NAME
from runner.workflow.train import run_training
from tests.cli_helpers import invoke
from tests.conftest import TINY_SET

pytestmark = pytest.mark.slow

CRASH = '''
from ignite.engine import Events

class CrashAt:
    def __init__(self, iteration):
        self.iteration = iteration

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine):
        if engine.state.iteration == self.iteration:
            raise RuntimeError("boom at iteration %d" % self.iteration)


class FailsToBuild:
    def __init__(self):
        raise ValueError("cannot build")

    def attach(self, engine):
        pass
'''


@pytest.fixture
def crashing_mmar(make_mmar: Callable[..., Path]) -> Path:
    def edit(config: dict) -> None:
        config["crash_off"] = True
        config["train"]["handlers"].append({"path": "crash.CrashAt", "disabled": "{crash_off}", "args": {"iteration": 3}})

    return make_mmar(edit=edit, custom={"crash.py": CRASH})


def train(root: Path, *sets: str):  # type: ignore[no-untyped-def]
    return run_training(load_train_config(root, overrides=[*TINY_SET, *sets]))


def test_metrics_are_recorded_only_for_validated_epochs(crashing_mmar: Path) -> None:
    result = train(crashing_mmar, "epochs=3", "num_interval_per_valid=2")
    stats = json.loads((result.ckpt_dir / "train_stats.json").read_text())
    per_epoch = stats["validation_metrics_per_epoch"]
    assert [sorted(m) for m in per_epoch] == [[], ["val_mean_dice"], []]
    assert stats["best_validation_epoch"] == 2


def test_a_failed_run_says_so_in_the_manifest(crashing_mmar: Path) -> None:
    good = train(crashing_mmar)
    assert json.loads(good.manifest_path.read_text())["status"] == "completed"
    with pytest.raises(RunFailedError, match="boom at iteration 3"):
        train(crashing_mmar, "crash_off=False")
    manifest = json.loads(good.manifest_path.read_text())
    assert manifest["status"] == "failed" and "boom at iteration 3" in manifest["error"]
    assert "weights_digest" not in manifest
    assert manifest["iterations"] == 2


def test_failed_run_exits_1_without_traceback(crashing_mmar: Path) -> None:
    result = invoke("train", str(crashing_mmar), "--set", *TINY_SET, "crash_off=False")
    assert result.exit_code == 1
    assert "training failed (" in result.stderr and "custom/crash.py, line 13): RuntimeError: boom at iteration 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_best_model_from_an_earlier_run_is_not_claimed(crashing_mmar: Path) -> None:
    first = train(crashing_mmar)
    assert first.best_model is not None
    second = train(crashing_mmar, "num_interval_per_valid=100")  # never validates, so never saves a best model
    assert second.best_model is None
    assert json.loads(second.manifest_path.read_text())["outputs"]["best_model"] is None


def test_bad_input_on_a_second_run_keeps_the_first_runs_outputs(crashing_mmar: Path) -> None:
    first = train(crashing_mmar)
    before = {p.name: p.stat().st_mtime_ns for p in first.ckpt_dir.iterdir() if p.name != LOCK_NAME}
    root = crashing_mmar
    config = json.loads((root / "config" / "config_train.json").read_text())
    # Fails while building, after the TensorBoard handlers have created new event files.
    config["train"]["handlers"].append({"path": "crash.FailsToBuild"})
    (root / "config" / "config_train.json").write_text(json.dumps(config))
    result = invoke("train", str(root), "--set", *TINY_SET)
    assert result.exit_code == 2 and "FailsToBuild(...) raised" in result.stderr
    after = {p.name: p.stat().st_mtime_ns for p in first.ckpt_dir.iterdir() if p.name != LOCK_NAME}
    assert after == before  # the lock file records who holds the folder; everything else is untouched
    assert json.loads(first.manifest_path.read_text())["status"] == "completed"


def test_a_failed_run_keeps_the_good_runs_record_leaves_no_empty_event_files_and_export_names_the_run(
        make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict) -> None:
        config["crash_off"] = True
        config["train"]["handlers"].append({"path": "crash.CrashAt", "disabled": "{crash_off}", "args": {"iteration": 1}})

    root = make_mmar(edit=edit, custom={"crash.py": CRASH})
    good = train(root)
    good_manifest = good.manifest_path.read_text()
    events_before = {p.name for p in good.ckpt_dir.glob("events.out.tfevents.*")}
    with pytest.raises(RunFailedError, match="boom at iteration 1"):
        train(root, "crash_off=False")  # validation never ran: its TensorBoard writer wrote nothing
    assert json.loads(good.manifest_path.read_text())["status"] == "failed"
    history = list((good.ckpt_dir / "history").iterdir())
    assert [p.read_text() for p in history] == [good_manifest], "the good run's manifest is kept"
    new_events = [p for p in good.ckpt_dir.glob("events.out.tfevents.*") if p.name not in events_before]
    assert len(new_events) == 1 and event_records(new_events[0]) > 1, "only the failed run's training losses remain"

    exported = invoke("export", str(root), "--set", *TINY_SET, "--output-path", str(tmp_path / "model.ts"), "--ignore-verify")
    assert exported.exit_code == 0, exported.stderr
    assert (f"checkpoint {good.ckpt_dir / 'model.pt'}: written by the train run started "
            f"{json.loads(good_manifest)['started_at']} ({history[0]})") in exported.stderr
