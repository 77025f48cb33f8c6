"""The life of a run (issue 15, items 1-5): one run per folder, resume only what was interrupted,
damaged checkpoints, a full disk, SIGTERM in the first iteration. Each reproduces what broke."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import REPO, TINY_SET
from tests.integration.test_resume import EVERY_EPOCH, PREEMPTED, checkpoints, manifest, mmar_with_preemption, train

pytestmark = pytest.mark.slow

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runner.workflow.lock import FolderLock
    lock = FolderLock(Path(sys.argv[1]), "train")
    lock.acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def hold_lock(folder: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``folder`` (as a run would) for ``seconds``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder), str(seconds)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_in_a_held_folder_exits_2_naming_the_holder(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = make_mmar()
    out = tmp_path / "out"
    assert train(root, out).returncode == 0
    before = (out / "run_manifest.json").read_bytes()
    holder = hold_lock(out, 600)
    try:
        second = train(root, out)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"{out} is in use by another run: mmar train (pid {holder.pid} on " in second.stderr
        assert (out / "run_manifest.json").read_bytes() == before, "the refused run touched the first run's manifest"
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock; no stale lock to clean up
        holder.wait()
    assert train(root, out).returncode == 0


def waiting_train(root: Path, out: Path, holder: subprocess.Popen[str]) -> subprocess.Popen[str]:
    """``mmar train --lock-wait 300`` on ``out``, returned once it says it waits for ``holder``."""
    waiter = subprocess.Popen([sys.executable, "-m", "runner", "train", str(root), "--no-progress", "--lock-wait", "300",
                               "--set", *TINY_SET, f"MMAR_CKPT_DIR={out}"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert waiter.stderr is not None
    lines = [waiter.stderr.readline() for _ in range(2)]
    assert any(f"{out} is in use by mmar train (pid {holder.pid} on " in line and "waiting up to 300 s" in line
               for line in lines), lines
    return waiter


def test_a_replacement_waits_for_the_folder_then_runs(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = make_mmar()
    out = tmp_path / "out"
    holder = hold_lock(out, 600)
    try:
        waiter = waiting_train(root, out, holder)
        holder.kill()  # the predecessor goes; the waiter takes the folder and trains
        _, rest = waiter.communicate(timeout=300)
        assert waiter.returncode == 0, rest[-2000:]
        assert manifest(out)["status"] == "completed"
    finally:
        holder.kill()
        holder.wait()
    holder = hold_lock(out, 600)
    try:
        gave_up = train(root, out, env={"MMAR_LOCK_WAIT_S": "1"})
        assert gave_up.returncode == 2 and "(waited 1 s)" in gave_up.stderr, gave_up.stderr[-2000:]
        assert manifest(out)["status"] == "completed", "the run that gave up touched the folder"
    finally:
        holder.kill()
        holder.wait()


def test_a_resume_after_a_custom_edit_is_refused_and_fresh_starts_over(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = mmar_with_preemption(make_mmar, tmp_path, 3)
    out = tmp_path / "out"
    assert train(root, out, env=EVERY_EPOCH).returncode == PREEMPTED
    preempted = (out / "run_manifest.json").read_bytes()
    assert json.loads(preempted)["status"] == "preempted"
    kept = checkpoints(out)
    with (root / "custom" / "preempt.py").open("a") as source:
        source.write("\n# an edit after the preemption\n")
    (root / "custom" / "helpers.py").write_text("X = 1\n")
    refused = train(root, out, env=EVERY_EPOCH)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "was written by a run with other inputs: custom/helpers.py was added; custom/preempt.py changed" in refused.stderr
    assert "--fresh" in refused.stderr
    assert (out / "run_manifest.json").read_bytes() == preempted, "a refused resume rewrote the preempted manifest"
    assert checkpoints(out) == kept
    fresh = train(root, out, "--fresh", env=EVERY_EPOCH)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert manifest(out)["status"] == "completed" and "resumed_from" not in manifest(out)
    assert manifest(out)["iterations"] == manifest(out)["planned_iterations"], "--fresh trained from the beginning"


def test_a_resume_after_a_data_edit_is_refused_naming_the_file(make_mmar: Callable[..., Path], tmp_path: Path,
                                                              synthetic_data: Path) -> None:
    """One image rewritten in place between SIGTERM and restart: exit 2 naming it; an older checkpoint, unchecked, resumes."""
    data = tmp_path / "data"
    shutil.copytree(synthetic_data, data)  # a private copy: the session's data set is shared by other tests
    own_data = functools.partial(make_mmar, environment={"DATA_ROOT": str(data), "DATASET_JSON": str(data / "dataset.json")})
    root = mmar_with_preemption(own_data, tmp_path, 3)
    out = tmp_path / "out"
    assert train(root, out, env=EVERY_EPOCH).returncode == PREEMPTED
    record = manifest(out)["data"]
    listed = json.loads((out / "data_files.json").read_text())
    assert (record["files"], record["list"], listed["digest"]) == (12, "data_files.json", record["digest"])  # 6 cases, image + label
    assert "imagesTr/spleen_001.nii.gz" in [entry["path"] for entry in listed["entries"]]
    kept = {name: (out / name).read_bytes() for name in ("run_manifest.json", "data_files.json")}
    checkpoints_before = checkpoints(out)

    target = data / "imagesTr" / "spleen_001.nii.gz"
    target.write_bytes((data / "imagesTr" / "spleen_002.nii.gz").read_bytes())  # another valid image of the same shape
    refused = train(root, out, env=EVERY_EPOCH)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "other inputs: the data changed: 1 file, first imagesTr/spleen_001.nii.gz (1 changed)" in refused.stderr
    assert "mmar train --fresh" in refused.stderr and "Traceback" not in refused.stderr
    assert {name: (out / name).read_bytes() for name in kept} == kept, "a refused resume rewrote the preempted run's files"
    assert checkpoints(out) == checkpoints_before

    for name in checkpoints_before:  # as a checkpoint written before mmar recorded a data digest
        payload = torch.load(out / "resume" / name, weights_only=True)
        del payload["inputs"]["data"]
        torch.save(payload, out / "resume" / name)
    resumed = train(root, out, env=EVERY_EPOCH)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "records no data digest (written by an earlier mmar)" in resumed.stderr
    assert manifest(out)["resumed_from"].endswith(checkpoints_before[-1])
    assert manifest(out)["data"]["digest"] != record["digest"]
    assert json.loads((out / "data_files.json").read_text())["digest"] == manifest(out)["data"]["digest"]


def test_a_failed_restore_leaves_the_preempted_manifest_as_it_was(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = mmar_with_preemption(make_mmar, tmp_path, 3)
    out = tmp_path / "out"
    assert train(root, out, env=EVERY_EPOCH).returncode == PREEMPTED
    preempted = (out / "run_manifest.json").read_bytes()
    newest = out / "resume" / checkpoints(out)[-1]
    payload = torch.load(newest, weights_only=True)
    payload["optimizer"] = {"state": {}, "param_groups": []}  # loads, has every key, does not fit the optimizer
    torch.save(payload, newest)
    failed = train(root, out, env=EVERY_EPOCH)
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert f"resuming from {newest} failed" in failed.stderr
    assert (out / "run_manifest.json").read_bytes() == preempted


@pytest.mark.parametrize("damage", ["truncate", "drop_keys"])
def test_no_usable_checkpoint_says_it_trains_from_the_beginning(make_mmar: Callable[..., Path], tmp_path: Path, damage: str) -> None:
    root = mmar_with_preemption(make_mmar, tmp_path, 3)
    out = tmp_path / "out"
    assert train(root, out, env=EVERY_EPOCH).returncode == PREEMPTED
    names = checkpoints(out)
    for name in names:
        path = out / "resume" / name
        if damage == "truncate":
            path.write_bytes(path.read_bytes()[:1000])
        else:
            payload = torch.load(path, weights_only=True)
            del payload["optimizer"], payload["rng_by_rank"]
            torch.save(payload, path)
    resumed = train(root, out, env=EVERY_EPOCH)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    first, last = (out / "resume" / names[-1]), (out / "resume" / names[0])
    why = r"is incomplete or unreadable \(.*\)" if damage == "truncate" else r"is incomplete \(no optimizer, rng_by_rank\)"
    assert re.search(f"{re.escape(str(first))} {why}; trying {names[0]}", resumed.stderr), resumed.stderr[-2000:]
    assert re.search(f"{re.escape(str(last))} {why}; no earlier one: training from the beginning", resumed.stderr)
    assert "resumed_from" not in manifest(out) and manifest(out)["iterations"] == manifest(out)["planned_iterations"]


def test_sigterm_in_the_first_iteration_leaves_no_final_model(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    root = mmar_with_preemption(make_mmar, tmp_path, 1)
    out = tmp_path / "out"
    done = train(root, out)
    assert done.returncode == PREEMPTED, done.stderr[-2000:]
    assert not (out / "final_model.pt").exists(), "a model trained for one step was saved as final"
    assert manifest(out)["status"] == "preempted" and manifest(out)["iterations"] == 1
    assert manifest(out)["resume_checkpoint"].endswith("ckpt-000000001.pt")


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Any:
    """A 2 MB tmpfs (the demo's model is 14 MB), mounted for the test; needs root, as on this project's machines."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); test_a_file_size_limit_... covers the writers")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_clearly_and_keeps_the_last_good_outputs(make_mmar: Callable[..., Path], tiny_disk: Path) -> None:
    root = make_mmar()
    done = train(root, tiny_disk, "channels=[16,32,64,128,256]", "strides=[2,2,2,2]")  # the demo's network: 14 MB
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"error: no space left on {tiny_disk} (tmpfs) writing {tiny_disk}/model.pt" in done.stderr
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr
    assert not (tiny_disk / "model.pt").exists() and not (tiny_disk / "final_model.pt").exists(), "a 0-byte model was left"
    assert not list(tiny_disk.glob(".*.tmp")), "a temporary file was left"
    failed = manifest(tiny_disk)
    assert failed["status"] == "failed" and failed["error"].startswith("no space left on")


FILL_UP_BEFORE_THE_MANIFEST = '''
from pathlib import Path
from ignite.engine import Events


class FillTheDisk:
    """Takes every free byte of the output folder's disk at the first iteration, so nothing more can be written."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), self)

    def __call__(self, engine):
        with open(self.folder / "ballast", "ab") as ballast:  # append: written in place, not atomically
            try:
                while True:
                    ballast.write(b"x" * 65536)
                    ballast.flush()
            except OSError:
                pass
        raise RuntimeError("the disk is full now")
'''


def test_the_failed_manifest_is_written_on_a_full_disk(make_mmar: Callable[..., Path], tiny_disk: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"path": "fill.FillTheDisk", "args": {"folder": str(tiny_disk)}})

    root = make_mmar(edit=edit, custom={"fill.py": FILL_UP_BEFORE_THE_MANIFEST})
    done = train(root, tiny_disk, "channels=[2,4,8]")
    assert done.returncode == 1, done.stderr[-2000:]
    failed = manifest(tiny_disk)  # the error is the handler's, or the full disk's when MONAI saves a model on the exception
    assert failed["status"] == "failed" and failed["error"], failed
    assert (tiny_disk / "ballast").stat().st_size > 1_000_000, "the disk was not full"


def test_a_file_size_limit_fails_clearly_without_root(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every write past 32 kB fail (EFBIG), for torch's C++ writer too: a full disk without a mount."""
    root = make_mmar()
    out = tmp_path / "out"
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 15, 1 << 15)); "
              "from runner.entry import main; sys.argv = ['mmar'] + sys.argv[1:]; main()")
    done = subprocess.run([sys.executable, "-c", script, "train", str(root), "--no-progress", "--set", *TINY_SET,
                           f"MMAR_CKPT_DIR={out}"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MMAR_NO_REEXEC": "1", "PYTHONHASHSEED": "0"})
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: file too large for " in done.stderr and f"writing {out}/model.pt" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (out / "model.pt").exists() and not list(out.glob(".*.tmp"))
    assert manifest(out)["status"] == "failed"


def test_sigterm_while_waiting_for_the_lock_is_not_a_failure(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """A pod replaced while its predecessor holds the folder: stopping the waiter leaves no trace in the folder."""
    root = make_mmar()
    out = tmp_path / "out"
    holder = hold_lock(out, 600)
    try:
        waiter = waiting_train(root, out, holder)
        waiter.send_signal(signal.SIGTERM)
        _, stderr = waiter.communicate(timeout=60)
        assert waiter.returncode != 0
        assert not (out / "run_manifest.json").exists(), stderr[-2000:]
    finally:
        holder.kill()
        holder.wait()
