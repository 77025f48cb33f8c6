"""The data digest around a run: the resume key, the list beside the manifest, and what verify and diff say."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from runner.data.content_digest import DataDigest, FileEntry
from runner.jsonio import write_json_atomic
from runner.workflow import data_record
from runner.workflow.data_record import data_files_name, load_data_list, manifest_record
from runner.workflow.resume_store import RunInputs
from runner.workflow.session import HOUSEKEEPING, RunSession
from runner.workflow.verify import compare_runs, explain
from tests.conftest import run_cli

BEFORE = DataDigest.from_entries([FileEntry("imagesTr/a.nii.gz", 10, "a" * 64), FileEntry("imagesTr/b.nii.gz", 20, "b" * 64),
                                  FileEntry("labelsTr/a.nii.gz", 5, "c" * 64)])
AFTER = DataDigest.from_entries([FileEntry("imagesTr/a.nii.gz", 10, "a" * 64), FileEntry("imagesTr/b.nii.gz", 20, "d" * 64),
                                 FileEntry("labelsTr/a.nii.gz", 5, "e" * 64)])
CHANGED = "the data changed: 2 files, first imagesTr/b.nii.gz (2 changed)"


def run_folder(folder: Path, data: DataDigest, with_list: bool = True) -> Path:
    """A completed run's manifest (weights as in every other such folder) and, unless told not to, its data list."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"manifest_version": 1, "status": "completed", "seed": 0, "weights_digest": "sha256:" + "0" * 64,
                "tensor_digests": {"w": "sha256:" + "1" * 64}, "data": manifest_record(data, "data_files.json", "/data")}
    write_json_atomic(folder / "run_manifest.json", manifest)
    if with_list:
        write_json_atomic(folder / "data_files.json", data.to_json())
    return folder


def test_the_list_is_named_after_the_manifest() -> None:
    assert data_files_name("run_manifest.json") == "data_files.json"
    assert data_files_name("validate_manifest.json") == "validate_data_files.json"


def test_a_resume_key_with_other_data_names_the_first_changed_file(tmp_path: Path) -> None:
    stored = RunInputs("sha256:c", data=BEFORE).as_data()
    assert stored["data"] == {**BEFORE.summary(), "list": "data_files.json"}
    now = RunInputs("sha256:c", data=AFTER)
    assert now.changes_since(stored, "config_train.json", tmp_path) == [f"the data changed: digest {BEFORE.digest} before, {AFTER.digest} now"]
    write_json_atomic(tmp_path / "data_files.json", BEFORE.to_json())  # what the interrupted run left beside its manifest
    assert now.changes_since(stored, "config_train.json", tmp_path) == [CHANGED]
    assert RunInputs("sha256:c", data=BEFORE).changes_since(stored, "config_train.json", tmp_path) == []


def test_a_checkpoint_without_a_data_digest_is_not_a_change(tmp_path: Path) -> None:
    """Written before mmar recorded data digests: nothing to compare with (find_resume warns), so no refusal."""
    old = RunInputs("sha256:c").as_data()
    del old["data"]
    assert RunInputs("sha256:c", data=AFTER).changes_since(old, "config_train.json", tmp_path) == []
    assert RunInputs("sha256:d", data=AFTER).changes_since(old, "config_train.json", tmp_path) == [
        "config_train.json (with its variables and --set values) changed"]


def test_a_list_that_is_not_the_manifests_data_is_not_used(tmp_path: Path) -> None:
    folder = run_folder(tmp_path / "run", BEFORE)
    record = json.loads((folder / "run_manifest.json").read_text())["data"]
    assert load_data_list(folder, record) == BEFORE
    write_json_atomic(folder / "data_files.json", AFTER.to_json())  # a valid list, of other data
    assert load_data_list(folder, record) is None
    edited = AFTER.to_json()
    edited["entries"][0]["size"] = 11  # its digest no longer covers its entries
    write_json_atomic(folder / "data_files.json", edited)
    assert load_data_list(folder, {**record, "digest": edited["digest"]}) is None
    assert load_data_list(folder, {**record, "list": "../run/data_files.json"}) is None  # a bare file name only


def test_verify_and_diff_say_which_files_changed(tmp_path: Path) -> None:
    first, second = run_folder(tmp_path / "one", BEFORE), run_folder(tmp_path / "two", AFTER)
    comparison = compare_runs(first / "run_manifest.json", second)
    assert [difference.render() for difference in comparison.settings] == [CHANGED]
    diverged = type(comparison)(False, None, "w", 1, comparison.settings)
    assert f"  {CHANGED}" in explain(diverged)
    same = compare_runs(first, run_folder(tmp_path / "three", BEFORE, with_list=False))
    assert same.settings == []

    shown = run_cli("diff", str(first), str(second))
    assert shown.returncode == 0, shown.stderr
    assert CHANGED in shown.stdout.splitlines(), shown.stdout  # in the data section, before the outcome
    assert shown.stdout.index(CHANGED) < shown.stdout.index("outcome:")
    without_list = run_cli("diff", str(first), str(run_folder(tmp_path / "four", AFTER, with_list=False)))
    assert f"the data changed: digest {BEFORE.digest} before, {AFTER.digest} now" in without_list.stdout.splitlines()


def test_the_list_beside_the_manifest_is_put_back_when_a_run_is_discarded(tmp_path: Path) -> None:
    folder = run_folder(tmp_path / "out", BEFORE)
    kept = {name: (folder / name).read_bytes() for name in ("run_manifest.json", "data_files.json")}
    with pytest.raises(RuntimeError), RunSession(folder, "run_manifest.json", "train") as session:
        session.start({"command": "train"}, beside={"data_files.json": AFTER.to_json()})
        assert json.loads((folder / "data_files.json").read_text())["digest"] == AFTER.digest
        assert session.written() == []  # the list belongs with the manifest, not among the run's outputs
        session.discard()
        raise RuntimeError("bad input, found after the run started")
    assert {name: (folder / name).read_bytes() for name in kept} == kept


def test_a_discarded_first_run_leaves_no_list_and_keeps_the_shared_cache(tmp_path: Path) -> None:
    """In the image HOME is /out: the digest cache made during a run that is then discarded serves the next run."""
    folder = tmp_path / "out"
    folder.mkdir()
    cache = folder / ".cache" / "mmar-runner" / "data-digests.sqlite"
    with RunSession(folder, "validate_manifest.json", "validate") as session:
        cache.parent.mkdir(parents=True)
        cache.write_bytes(b"rows")
        session.start({"command": "validate"}, beside={"validate_data_files.json": BEFORE.to_json()})
        assert session.written() == []
        session.discard()
    assert {path.name for path in folder.iterdir()} - set(HOUSEKEEPING) == {".cache"}
    assert cache.read_bytes() == b"rows"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_on_a_terminal_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(data_record, "PROGRESS_DELAY_S", 0.0)  # the real bar waits 2 s before it shows
    with data_record._progress_bar(True) as progress:
        assert progress is not None
        progress(3 << 20, 8 << 20)
    assert "hashing data" in terminal.getvalue() and "/8.00M" in terminal.getvalue()
    with data_record._progress_bar(False) as progress:  # --no-progress
        assert progress is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: a log file gets no bar
    with data_record._progress_bar(True) as progress:
        assert progress is None
