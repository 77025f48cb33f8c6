"""The run session's parts on their own: the folder lock, atomic writes for others' code, the manifest states."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
from pathlib import Path

import pytest

from runner.errors import ConfigError, ConfigIssue, OutputWriteError, RunFailedError, RunLockedError
from runner.workflow.atomic_open import atomic_writes_under
from runner.workflow.lock import LOCK_NAME, FolderLock
from runner.workflow.session import RESERVE_NAME, RunSession


# ---- the lock -----------------------------------------------------------------------------------
def test_a_held_folder_is_refused_naming_the_holder_and_freed_on_release(tmp_path: Path) -> None:
    first = FolderLock(tmp_path, "train")
    first.acquire()
    with pytest.raises(RunLockedError) as refused:
        FolderLock(tmp_path, "validate").acquire()
    assert f"{tmp_path} is in use by another run: mmar train (pid {os.getpid()} on " in refused.value.message
    first.release()
    with FolderLock(tmp_path, "validate"):
        pass


def test_waiting_gives_up_after_the_wait_with_the_time_waited(tmp_path: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with FolderLock(tmp_path, "train"), pytest.raises(RunLockedError, match=r"\(waited 5 s\)"):
        FolderLock(tmp_path, "train", wait_s=5, clock=lambda: now[0], sleep=sleep).acquire()
    assert sum(slept) >= 5 and len(slept) == 10


# ---- atomic writes for code we do not own -------------------------------------------------------
def test_a_whole_file_write_under_an_output_folder_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    target.write_text("good\n")
    with atomic_writes_under(tmp_path):
        with pytest.raises(RuntimeError), open(target, "w") as handle:
            handle.write("half")
            assert target.read_text() == "good\n", "the target changed before the file was closed"
            raise RuntimeError("the handler failed mid-write")
        assert target.read_text() == "good\n"
        with open(target, "w") as handle:  # noqa: PTH123 - the handler's own call, as MONAI writes
            handle.write("new\n")
        assert target.read_text() == "new\n"
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "x.json").write_text("{}")  # pathlib goes through io.open
        with open(tmp_path / "log.txt", "a") as log:  # noqa: PTH123 - appends are written in place
            log.write("line\n")
        with pytest.raises(FileExistsError):
            open(target, "x")  # noqa: PTH123, SIM115
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["log.txt", "metrics.csv", "sub", "x.json"], "a temporary file was left"
    assert builtins.open is io.open and builtins.open.__module__ in ("io", "_io"), "open() was not given back"


def test_a_failed_write_keeps_the_previous_file_and_says_why(tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    target.write_text("good\n")

    class FullDisk:
        def write(self, data: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with atomic_writes_under(tmp_path):
        handle = open(target, "w")  # noqa: PTH123, SIM115
        real = handle._raw
        handle._raw = FullDisk()
        with pytest.raises(OSError, match="No space left"):
            handle.write("x")
        handle._raw = real
        handle.close()
    assert target.read_text() == "good\n" and not list(tmp_path.glob(".*.tmp"))


def test_files_elsewhere_are_opened_as_usual(tmp_path: Path) -> None:
    outputs, elsewhere = tmp_path / "out", tmp_path / "data"
    outputs.mkdir()
    elsewhere.mkdir()
    with atomic_writes_under(outputs), open(elsewhere / "x.txt", "w") as handle:  # noqa: PTH123
        assert type(handle).__name__ == "TextIOWrapper"


# ---- the session --------------------------------------------------------------------------------
def manifest(folder: Path, name: str = "run_manifest.json") -> dict:
    return json.loads((folder / name).read_text())


def test_bad_input_after_the_start_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_text("earlier run")
    (tmp_path / "run_manifest.json").write_text('{"status": "completed"}')
    with pytest.raises(ConfigError), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({"command": "train"})
        (tmp_path / "events.out.tfevents.1").write_text("x")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "new.csv").write_text("x")
        raise ConfigError([ConfigIssue("datalist.json", "training[3]", "cannot read image")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME, "model.pt", "run_manifest.json"]
    assert manifest(tmp_path) == {"status": "completed"} and (tmp_path / "model.pt").read_text() == "earlier run"


def test_a_failure_after_the_start_is_recorded_and_never_left_running(tmp_path: Path) -> None:
    with pytest.raises(KeyError), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({"command": "train", "seed": 0})
        assert manifest(tmp_path)["status"] == "running"
        raise KeyError("boom")
    failed = manifest(tmp_path)
    assert failed["status"] == "failed" and failed["error"] == "KeyError: 'boom'" and failed["seed"] == 0
    assert not (tmp_path / RESERVE_NAME).exists()


def test_a_folder_made_for_a_run_that_failed_before_it_started_is_removed(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    with pytest.raises(RunFailedError), RunSession(folder, "run_manifest.json", "train"):
        assert (folder / RESERVE_NAME).stat().st_size > 0, "no reserve for the failed manifest"
        raise RunFailedError("could not build")
    assert not folder.exists()


def test_the_failed_manifest_gets_shorter_until_it_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.workflow.session as session_module

    real = session_module.write_json_atomic
    refused: list[int] = []

    def full_disk(path: Path, value: dict) -> None:
        if value.get("status") == "failed":
            refused.append(len(value))
            raise OutputWriteError("no space left on /out (tmpfs) writing run_manifest.json")
        real(path, value)

    monkeypatch.setattr(session_module, "write_json_atomic", full_disk)
    with RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({"command": "train", "warnings": ["w"] * 100})
        session.fail("no space left on /out (tmpfs) writing model.pt")
    assert len(refused) == 2 and refused[0] > refused[1], "the full and the short manifest were both tried"
    assert manifest(tmp_path) == {"manifest_version": 1, "status": "failed", "error": "no space left on /out (tmpfs) writing model.pt"}


def test_written_lists_new_and_rewritten_files_only(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("a")
    (tmp_path / "kept.txt").write_text("a")
    with RunSession(tmp_path, "run_manifest.json", "validate") as session:
        session.start({})
        (tmp_path / "new.csv").write_text("b")
        (tmp_path / "old.txt").write_text("bb")
        assert session.written() == [tmp_path / "new.csv", tmp_path / "old.txt"]
        session.complete({})


def test_other_ranks_touch_nothing(tmp_path: Path) -> None:
    with RunSession(tmp_path / "out", "run_manifest.json", "train", is_main=False) as session:
        session.start({})
        session.complete({})
    assert not (tmp_path / "out").exists()


# ---- how a run ends, and what it leaves of earlier runs (issue 19, items 6 and 7) ------------------
def test_ctrl_c_during_a_run_leaves_an_interrupted_manifest(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({"command": "train"})
        raise KeyboardInterrupt
    assert manifest(tmp_path)["status"] == "interrupted" and manifest(tmp_path)["resume_checkpoint"] is None


def test_a_failed_run_keeps_the_good_runs_manifest_in_the_history(tmp_path: Path) -> None:
    good = '{"status": "completed", "started_at": "2026-12-01T04:45:16.123456+00:00"}'
    (tmp_path / "run_manifest.json").write_text(good)
    with pytest.raises(KeyError), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({"command": "train"})
        raise KeyError("boom")
    assert manifest(tmp_path)["status"] == "failed"
    kept = tmp_path / "history" / "run_manifest.20261201T044516123456Z.json"
    assert kept.read_text() == good
    assert [p.name for p in (tmp_path / "history").iterdir()] == [kept.name]


def test_the_history_is_not_counted_among_a_runs_outputs_and_bad_input_leaves_none(tmp_path: Path) -> None:
    (tmp_path / "run_manifest.json").write_text('{"status": "completed", "started_at": "2026-12-01T04:00:00+00:00"}')
    with RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({})
        assert session.written() == []
        session.complete({})
    with pytest.raises(ConfigError), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({})
        raise ConfigError([ConfigIssue("config_train.json", "epochs", "bad")])
    assert len(list((tmp_path / "history").iterdir())) == 1, "the refused run added nothing to the history"


def event_file(path: Path, records: int) -> Path:
    """A TFRecord file of ``records`` records (CRCs not checked by the reader, zeros here)."""
    import struct

    data = b"".join(struct.pack("<Q", 5) + b"\0" * 4 + b"event" + b"\0" * 4 for _ in range(records))
    path.write_bytes(data)
    return path


def test_a_failed_run_leaves_no_empty_event_files_and_keeps_those_with_data(tmp_path: Path) -> None:
    with pytest.raises(RunFailedError), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({})
        event_file(tmp_path / "events.out.tfevents.1.host.1.0", 1)  # file_version only
        event_file(tmp_path / "events.out.tfevents.1.host.1.1", 0)  # never flushed
        kept = event_file(tmp_path / "events.out.tfevents.1.host.1.2", 3)  # file_version and two losses
        raise RunFailedError("boom")
    events = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("events."))
    assert events == [kept.name]


def test_an_earlier_runs_empty_event_file_is_not_this_runs_to_remove(tmp_path: Path) -> None:
    earlier = event_file(tmp_path / "events.out.tfevents.0.host.1.0", 1)
    with pytest.raises(RunFailedError), RunSession(tmp_path, "run_manifest.json", "train") as session:
        session.start({})
        raise RunFailedError("boom")
    assert earlier.exists()
