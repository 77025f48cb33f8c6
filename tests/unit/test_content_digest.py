"""The data digest: same bytes same digest, any change named, and a cache that never hides a change it could see."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.data.content_digest import (
    DATA_FILES_NAME,
    DataDigest,
    FileEntry,
    NamedFile,
    compare,
    digest_files,
)
from runner.data.digest_cache import TRUST_WINDOW_NS, DigestCache, default_cache_path
from runner.data.named_files import datalist_files, entry_files
from runner.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
LATER = 3600 * 10**9  # a clock an hour ahead: every file counts as long settled, so its hash may be cached


def future_clock() -> int:
    return time.time_ns() + LATER


def make_data(root: Path, count: int = 4, size: int = 3000) -> list[Path]:
    """``count`` files of distinct bytes under ``root/imagesTr`` and one under ``root/labelsTr``."""
    files = []
    for index in range(count):
        path = root / "imagesTr" / f"case_{index:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes((index * 7 + i) % 251 for i in range(size)))
        files.append(path)
    label = root / "labelsTr" / "case_000.bin"
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_bytes(b"label" * 100)
    return [*files, label]


def digest(files: list[Path], root: Path, cache_path: Path | None = None, clock: Callable[[], int] = future_clock,
           workers: int = 2) -> DataDigest:
    if cache_path is None:
        return digest_files(files, root, None, workers=workers, clock=clock)
    with DigestCache(cache_path) as cache:
        return digest_files(files, root, cache, workers=workers, clock=clock)


def rows(cache_path: Path) -> dict[str, str]:
    with sqlite3.connect(cache_path) as db:
        return dict(db.execute("SELECT path, sha256 FROM files").fetchall())


def test_same_bytes_give_the_same_digest_and_one_byte_changes_it(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    first = digest(files, tmp_path / "data")
    assert first == digest(list(reversed(files)), tmp_path / "data")  # order of naming does not matter
    assert first.digest.startswith("sha256:") and len(first.digest) == 7 + 64
    assert (first.files, first.bytes) == (5, 4 * 3000 + 500)
    assert [e.path for e in first.entries] == [*(f"imagesTr/case_{i:03d}.bin" for i in range(4)), "labelsTr/case_000.bin"]
    data = bytearray(files[2].read_bytes())
    data[1234] ^= 1
    files[2].write_bytes(bytes(data))
    second = digest(files, tmp_path / "data")
    assert second.digest != first.digest
    assert compare(first, second) == "the data changed: 1 file, first imagesTr/case_002.bin (1 changed)"


def test_a_file_named_twice_counts_once_and_a_folder_counts_as_its_files(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    twice = digest([*files, files[0], tmp_path / "data" / "imagesTr" / ".." / "imagesTr" / "case_000.bin"], tmp_path / "data")
    assert twice == digest(files, tmp_path / "data")
    folders = digest([tmp_path / "data" / "imagesTr", tmp_path / "data" / "labelsTr"], tmp_path / "data")
    assert folders == twice


def test_moving_the_data_root_keeps_the_digest_and_files_outside_it_are_absolute(tmp_path: Path) -> None:
    files = make_data(tmp_path / "a" / "data")
    before = digest(files, tmp_path / "a" / "data")
    os.rename(tmp_path / "a", tmp_path / "b")
    moved = [tmp_path / "b" / "data" / f.relative_to(tmp_path / "a" / "data") for f in files]
    assert digest(moved, tmp_path / "b" / "data") == before
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"x")
    with_outside = digest([*moved, outside], tmp_path / "b" / "data")
    assert str(outside) in [e.path for e in with_outside.entries]
    assert all(e.path == str(outside) or not e.path.startswith("/") for e in with_outside.entries)


def test_a_data_root_that_is_a_link_still_gives_relative_paths(tmp_path: Path) -> None:
    files = make_data(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "..odd.bin").write_bytes(b"a file whose name starts with two dots is inside the root")
    result = digest([*files, tmp_path / "real" / "..odd.bin"], tmp_path / "link")
    assert [e.path for e in result.entries][:2] == ["..odd.bin", "imagesTr/case_000.bin"]
    assert not any(e.path.startswith("/") for e in result.entries)


def test_the_comparison_counts_added_removed_and_changed_files_and_names_the_first(tmp_path: Path) -> None:
    old = DataDigest.from_entries([FileEntry("b.nii", 1, "1" * 64), FileEntry("c.nii", 2, "2" * 64), FileEntry("d.nii", 3, "3" * 64)])
    new = DataDigest.from_entries([FileEntry("a.nii", 9, "9" * 64), FileEntry("c.nii", 2, "f" * 64), FileEntry("d.nii", 3, "3" * 64)])
    message = "the data changed: 3 files, first a.nii (1 changed, 1 added, 1 removed)"
    assert compare(old, new) == message
    assert compare(old.to_json(), new.to_json()) == message  # the JSON records compare the same way
    assert compare(old, DataDigest.from_entries(reversed(old.entries))) is None
    assert compare(old.summary(), new.summary()) == f"the data changed: digest {old.digest} before, {new.digest} now"
    assert compare(old.summary(), old.to_json()) is None


def test_the_json_record_round_trips_and_an_edited_one_is_refused(tmp_path: Path) -> None:
    record = digest(make_data(tmp_path / "data"), tmp_path / "data")
    text = json.dumps(record.to_json())
    assert DataDigest.from_json(json.loads(text)) == record
    assert record.summary() == {"digest": record.digest, "files": 5, "bytes": record.bytes}
    edited = json.loads(text)
    edited["entries"][0]["size"] += 1
    with pytest.raises(ConfigError, match=rf"{DATA_FILES_NAME}: digest: .* is not the digest of the entries listed"):
        DataDigest.from_json(edited)
    broken = json.loads(text)
    broken["entries"][1]["sha256"] = "not hex"
    with pytest.raises(ConfigError, match=r"entries\[1\]: must be"):
        DataDigest.from_json(broken, source=DATA_FILES_NAME)


def test_a_second_run_takes_settled_files_from_the_cache(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    cache = tmp_path / "cache" / "digests.sqlite"
    first = digest(files, tmp_path / "data", cache)
    assert (first.stats.hashed_files, first.stats.cached_files) == (5, 0)
    assert set(rows(cache)) == {str(f) for f in files}  # keyed by the absolute path
    second = digest(files, tmp_path / "data", cache)
    assert second == first
    assert (second.stats.hashed_files, second.stats.cached_files, second.stats.hashed_bytes) == (0, 5, 0)


def test_a_file_changed_within_the_trust_window_is_not_cached(tmp_path: Path) -> None:
    """Timestamps have a granularity: a file read right after a change could change again unseen, so it is hashed again."""
    files = make_data(tmp_path / "data")
    cache = tmp_path / "digests.sqlite"
    newest = max(max(f.stat().st_mtime_ns, f.stat().st_ctime_ns) for f in files)
    just_after = newest + TRUST_WINDOW_NS // 2
    assert digest(files, tmp_path / "data", cache, clock=lambda: just_after).stats.hashed_files == 5
    assert rows(cache) == {}
    again = digest(files, tmp_path / "data", cache, clock=lambda: just_after)
    assert again.stats.hashed_files == 5
    settled = newest + TRUST_WINDOW_NS
    digest(files, tmp_path / "data", cache, clock=lambda: settled)
    assert len(rows(cache)) == 5


def test_touch_makes_a_file_hashed_again(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    cache = tmp_path / "digests.sqlite"
    digest(files, tmp_path / "data", cache)
    info = files[1].stat()
    os.utime(files[1], ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    again = digest(files, tmp_path / "data", cache)
    assert (again.stats.hashed_files, again.stats.cached_files) == (1, 4)


def test_bytes_changed_with_size_and_mtime_put_back_are_still_seen(tmp_path: Path) -> None:
    """ctime is in the cache key: ``os.utime`` can set mtime back but the kernel moves ctime to the change."""
    files = make_data(tmp_path / "data")
    cache = tmp_path / "digests.sqlite"
    first = digest(files, tmp_path / "data", cache)
    before = files[3].stat()
    time.sleep(0.05)  # past the kernel's timestamp tick, so the change gets a later ctime (a precondition, asserted)
    data = bytearray(files[3].read_bytes())
    data[0] ^= 0xFF
    files[3].write_bytes(bytes(data))
    os.utime(files[3], ns=(before.st_atime_ns, before.st_mtime_ns))
    after = files[3].stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns
    second = digest(files, tmp_path / "data", cache)
    assert second.stats.hashed_files == 1
    assert compare(first, second) == "the data changed: 1 file, first imagesTr/case_003.bin (1 changed)"


def test_a_damaged_cache_file_is_set_aside_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = make_data(tmp_path / "data")
    cache = tmp_path / "digests.sqlite"
    cache.write_bytes(b"this is not an SQLite database, and it is long enough to have a header" * 20)
    first = digest(files, tmp_path / "data", cache)
    assert "is damaged" in caplog.text
    assert first == digest(files, tmp_path / "data", None)
    assert len(rows(cache)) == 5  # a working cache again
    assert digest(files, tmp_path / "data", cache).stats.cached_files == 5
    assert (tmp_path / "digests.sqlite.damaged").is_file()


def test_a_cache_of_another_schema_version_is_emptied_and_rebuilt(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    cache = tmp_path / "digests.sqlite"
    good = digest(files, tmp_path / "data", cache)
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE meta SET value = 0 WHERE key = 'schema'")
    again = digest(files, tmp_path / "data", cache)
    assert again == good and again.stats.hashed_files == 5  # nothing trusted from the other version
    assert len(rows(cache)) == 5


def test_a_cache_row_that_is_not_a_sha256_is_ignored(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    cache = tmp_path / "digests.sqlite"
    good = digest(files, tmp_path / "data", cache)
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE files SET sha256 = 'print(1)' WHERE path = ?", (str(files[0]),))
    again = digest(files, tmp_path / "data", cache)
    assert again == good and again.stats.hashed_files == 1


def test_an_unusable_cache_location_means_hashing_everything(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with DigestCache(blocker / "digests.sqlite") as cache:
        assert not cache.usable
        result = digest_files(files, tmp_path / "data", cache, clock=future_clock)
    assert result == digest(files, tmp_path / "data") and result.stats.hashed_files == 5


def test_the_cache_is_bounded_and_keeps_the_most_recent_rows(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data", count=30, size=10)
    cache_path = tmp_path / "digests.sqlite"
    for start in range(0, 30, 5):
        with DigestCache(cache_path, max_entries=10) as cache:
            digest_files(files[start:start + 5], tmp_path / "data", cache, clock=future_clock)
        with sqlite3.connect(cache_path) as db:  # the runs above are within one second: make their order visible
            db.execute("CREATE TEMP TABLE IF NOT EXISTS latest (path TEXT)")
            db.execute("DELETE FROM latest")
            db.executemany("INSERT INTO latest VALUES (?)", [(str(f),) for f in files[start:start + 5]])
            db.execute("UPDATE files SET used_at = used_at - 10 WHERE path NOT IN (SELECT path FROM latest)")
    kept = rows(cache_path)
    assert 5 <= len(kept) <= 10
    assert {str(f) for f in files[25:30]} <= set(kept)


def test_a_hit_on_an_old_row_renews_its_last_use(tmp_path: Path) -> None:
    """Pruning drops the least recently *used* rows: a dataset read every day stays cached however old its rows."""
    files = make_data(tmp_path / "data", count=2)
    cache = tmp_path / "digests.sqlite"
    digest(files, tmp_path / "data", cache)
    two_days_ago = int(time.time()) - 2 * 86_400
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE files SET used_at = ?", (two_days_ago,))
    assert digest(files[:1], tmp_path / "data", cache).stats.cached_files == 1
    with sqlite3.connect(cache) as db:
        used = dict(db.execute("SELECT path, used_at FROM files").fetchall())
    assert used[str(files[0])] > two_days_ago + 86_400 and used[str(files[1])] == two_days_ago


def test_two_processes_filling_one_cache_at_once_lose_nothing(tmp_path: Path) -> None:
    """Each process alone hashes files the other never sees: the cache ends with both sets, and neither gave up on it."""
    files = make_data(tmp_path / "data", count=300, size=64)
    cache = tmp_path / "digests.sqlite"
    script = textwrap.dedent("""
        import sys, time
        from runner.data import content_digest
        from runner.data.content_digest import digest_files
        from runner.data.digest_cache import DigestCache
        content_digest.STORE_BATCH = 1  # a transaction per file: as much contention as there can be
        with DigestCache(sys.argv[1]) as cache:
            print(digest_files(sys.argv[2:], "/", cache, workers=2, clock=lambda: time.time_ns() + 3600 * 10**9).files)
    """)
    names = [str(f) for f in files]
    halves = [names[:200], names[100:]]
    runs = [subprocess.Popen([sys.executable, "-c", script, str(cache), *half], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for half in halves]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["200", "201"]  # the label file is in the second half only
    assert [err for _, err in outputs] == ["", ""]  # no "cache not usable / failed": each waited for the other's lock
    assert set(rows(cache)) == set(names)


def test_a_missing_or_unreadable_file_is_bad_input_naming_datalist_and_entry(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    named = [NamedFile(str(files[0]), "dataset.json", "training[0].image"),
             NamedFile(str(tmp_path / "data" / "gone.bin"), "dataset.json", "training[1].label")]
    fifo = tmp_path / "data" / "pipe"
    os.mkfifo(fifo)
    named.append(NamedFile(str(fifo), "dataset.json", "validation[0].image"))
    with pytest.raises(ConfigError) as error:
        digest_files(named, tmp_path / "data")
    assert error.value.exit_code == 2
    assert [(i.file, i.path) for i in error.value.issues] == [("dataset.json", "training[1].label"), ("dataset.json", "validation[0].image")]
    assert f"{tmp_path / 'data' / 'gone.bin'}: not found" in error.value.render()
    assert "not a regular file" in error.value.render()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission_is_named(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    files[1].chmod(0)
    with pytest.raises(ConfigError, match=r"case_001.bin: cannot be read: PermissionError"):
        digest_files(files, tmp_path / "data")


def test_entry_files_take_images_segmentation_labels_and_other_existing_files(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data")
    entries = [{"image": str(files[0]), "label": str(files[4]), "mask": str(files[1]), "fold": 0, "note": "x.bin",
                "base": str(tmp_path / "data")},
               {"image": [str(files[2]), str(files[3])], "label": "1"}]
    named = entry_files("dataset.json", "training", entries, segmentation=True)
    assert [(n.where, n.path) for n in named] == [
        ("training[0].image", str(files[0])), ("training[0].label", str(files[4])), ("training[0].mask", str(files[1])),
        ("training[1].image[0]", str(files[2])), ("training[1].image[1]", str(files[3])), ("training[1].label", "1")]
    classification = entry_files("dataset.json", "training", entries, segmentation=False)
    assert "training[1].label" not in [n.where for n in classification]


def test_datalist_files_reads_the_configs_datalists_through_the_builder(make_mmar: Callable[..., Path], synthetic_data: Path) -> None:
    torch = pytest.importorskip("torch")
    from runner.components.build import Builder
    from runner.config.load import load_train_config

    builder = Builder(load_train_config(make_mmar()), device=torch.device("cpu"), amp=False)
    named = datalist_files(builder)
    listing = json.loads((synthetic_data / "dataset.json").read_text())
    expected = {str(synthetic_data / entry[field]) for key in ("training", "validation") for entry in listing[key]
                for field in ("image", "label")}
    assert {n.path for n in named} == expected
    assert {n.datalist for n in named} == {str(synthetic_data / "dataset.json")}
    result = digest_files(named, synthetic_data)
    assert result.files == len(expected) and not any(e.path.startswith("/") for e in result.entries)


def test_the_default_cache_follows_xdg_and_the_caller_passes_the_environment(tmp_path: Path) -> None:
    assert default_cache_path({}, tmp_path) == tmp_path / ".cache" / "mmar-runner" / "data-digests.sqlite"
    assert default_cache_path({"XDG_CACHE_HOME": "/c"}, tmp_path) == Path("/c/mmar-runner/data-digests.sqlite")
    assert default_cache_path({"XDG_CACHE_HOME": "relative"}, tmp_path) == tmp_path / ".cache" / "mmar-runner" / "data-digests.sqlite"


def test_nothing_is_pickled_and_the_cache_holds_only_numbers_and_text(tmp_path: Path) -> None:
    sources = [REPO / "runner" / "data" / name for name in ("content_digest.py", "digest_cache.py")]
    for source in sources:
        text = source.read_text()
        assert not any(word in text for word in ("import pickle", "import marshal", "import shelve", "eval(", "exec("))
        assert "os.environ" not in text  # the caller reads the environment once, at entry
    cache = tmp_path / "digests.sqlite"
    digest(make_data(tmp_path / "data"), tmp_path / "data", cache)
    with sqlite3.connect(cache) as db:
        kinds = {kind for row in db.execute("SELECT typeof(path), typeof(device), typeof(inode), typeof(size), typeof(mtime_ns), "
                                            "typeof(ctime_ns), typeof(sha256), typeof(used_at) FROM files") for kind in row}
    assert kinds == {"text", "integer"}


def test_progress_reaches_the_bytes_to_hash(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data", count=3, size=3 * 2**20 + 5)
    seen: list[tuple[int, int]] = []
    digest_files(files, tmp_path / "data", None, workers=2, progress=lambda done, total: seen.append((done, total)))
    total = sum(f.stat().st_size for f in files)
    assert seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_no_root_means_absolute_paths(tmp_path: Path) -> None:
    files = make_data(tmp_path / "data", count=1)
    assert {e.path for e in digest(files, None).entries} == {str(f) for f in files}  # type: ignore[arg-type]
