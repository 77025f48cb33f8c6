"""What the data digest costs a run: first (empty cache) and cached, against the demo's training time.

Three data sets: the demo bundle's synthetic data (``make data``), 10 GB of synthetic files (100 x
100 MB from a seeded generator, written under /tmp and deleted afterwards; refused with less than
25 GB free; ``--large-gb`` for another size, with 2.5 times its size free), and 10,000 small files (what a cached run pays per file: one ``stat`` and one SQLite
lookup). For each, in this process (the digest runs inside a training process, so no start-up is
counted):

* ``first_cold``: empty digest cache, files evicted from the page cache first (``posix_fadvise
  DONTNEED`` on each file after ``fsync``; the system-wide ``drop_caches`` is left alone, it would
  slow every other process on a shared machine), so the bytes come from the disk;
* ``first_warm``: empty digest cache, files in the page cache: the hashing cost alone;
* ``cached``: the cache filled by an earlier run: the cost every later run pays.

``fincore`` (util-linux), when present, records how much of the data was resident before each
cold run, as evidence of what was measured. The baseline is one ``mmar train`` of the demo bundle
with the Makefile's demo settings, run in the same session. Medians over repetitions; results in
bench/results/data_digest.json.

    .venv/bin/python bench/bench_data_digest.py [--reps 3] [--skip-train] [--skip-large] [--large-gb 10] [--small-files 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import MMAR_CLI, REPO, log, write_result

from runner.data.content_digest import DataDigest, digest_files
from runner.data.digest_cache import DigestCache

DEMO = REPO / "bundles" / "spleen_ct_seg"
DEMO_DATA = DEMO / "data" / "synthetic"
# The Makefile's SPLEEN_DEMO_SET: what `make train` runs.
DEMO_SET = ["epochs=30", "learning_rate=3e-3", "num_interval_per_valid=5", "patch_size=[48,48,48]", "val_roi_size=[64,64,64]",
            "num_samples=2", "num_workers=0", "channels=[16,32,64,128]", "strides=[2,2,2]"]
LARGE_FILE_MB = 100
SMALL_FILES, SMALL_FILE_BYTES = 10_000, 1024
FREE_FACTOR = 2.5  # free disk needed, as a multiple of what is written: 25 GB for the 10 GB set
SEED = 17


def demo_files() -> list[Path]:
    if not (DEMO_DATA / "dataset.json").is_file():
        subprocess.run([MMAR_CLI, "synthetic-data", str(DEMO_DATA)], check=True)
    return sorted(p for p in DEMO_DATA.rglob("*") if p.is_file() and p.name != "dataset.json")


def write_large(folder: Path, gigabytes: int) -> list[Path]:
    """Files of 100 MB of seeded pseudo-random bytes (incompressible, like compressed NIfTI), ``gigabytes`` in all."""
    import numpy as np

    free, needed = shutil.disk_usage(folder).free / 1e9, gigabytes * FREE_FACTOR
    if free < needed:
        raise SystemExit(f"only {free:.1f} GB free under {folder}: writing {gigabytes} GB needs {needed:g} GB free")
    rng = np.random.default_rng(SEED)
    files = []
    for index in range(gigabytes * 1000 // LARGE_FILE_MB):
        path = folder / f"case_{index:03d}.bin"
        with open(path, "wb") as stream:
            stream.write(rng.bytes(LARGE_FILE_MB << 20))
        files.append(path)
    return files


def write_small(folder: Path, count: int = SMALL_FILES) -> list[Path]:
    files = []
    for index in range(count):
        path = folder / f"{index // 1000:02d}" / f"case_{index:05d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(index.to_bytes(4, "little") * (SMALL_FILE_BYTES // 4))
        files.append(path)
    return files


def evict(files: list[Path]) -> None:
    """Drop the files' pages from the page cache, so the next read comes from the disk."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_share(files: list[Path]) -> float | None:
    """Share of the files' bytes in the page cache, from ``fincore``; None without it."""
    if shutil.which("fincore") is None:
        return None
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE", *map(str, files)],
                          capture_output=True, text=True, check=False)
    resident = total = 0
    for line in done.stdout.splitlines():
        res, size = line.split()
        resident, total = resident + min(int(res), int(size)), total + int(size)  # RES counts whole pages
    return resident / total if total else None


def timed(files: list[Path], root: Path, cache_path: Path | None) -> tuple[float, DataDigest]:
    started = time.perf_counter()
    if cache_path is None:
        result = digest_files(files, root, None)
    else:
        with DigestCache(cache_path) as cache:
            result = digest_files(files, root, cache)
    return time.perf_counter() - started, result


def measure_set(name: str, files: list[Path], root: Path, reps: int, work: Path) -> dict[str, Any]:
    """first_cold, first_warm and cached timings of one data set; every run must give the same digest."""
    samples: dict[str, list[float]] = {"first_cold": [], "first_warm": [], "cached": []}
    resident: dict[str, list[float | None]] = {"before_first_cold": [], "before_first_warm": []}
    digests = set()
    time.sleep(2.5)  # files written just now are inside the cache's trust window (2 s): let them settle
    for rep in range(reps):
        cache_path = work / f"{name}-{rep}.sqlite"
        evict(files)
        resident["before_first_cold"].append(resident_share(files))
        seconds, result = timed(files, root, cache_path)  # cold page cache, empty digest cache: fills it
        samples["first_cold"].append(seconds)
        digests.add(result.digest)
        resident["before_first_warm"].append(resident_share(files))
        seconds, result = timed(files, root, None)  # the pages are in memory now (as far as memory holds them)
        samples["first_warm"].append(seconds)
        digests.add(result.digest)
        for _ in range(3):
            seconds, result = timed(files, root, cache_path)
            assert result.stats.hashed_files == 0, f"{name}: {result.stats.hashed_files} files hashed on a cached run"
            samples["cached"].append(seconds)
            digests.add(result.digest)
        log(f"{name} rep {rep + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in samples.items()))
    assert len(digests) == 1, f"{name}: the digest differed between runs: {digests}"
    total = sum(f.stat().st_size for f in files)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return {"files": len(files), "bytes": total, "digest": digests.pop(), "reps": reps, "samples_s": samples,
            "median_s": medians, "page_cache_resident_share": resident,
            "first_cold_mb_per_s": total / 1e6 / medians["first_cold"], "first_warm_mb_per_s": total / 1e6 / medians["first_warm"],
            "cached_us_per_file": medians["cached"] / len(files) * 1e6}


def train_baseline(work: Path) -> dict[str, Any]:
    """One ``mmar train`` of the demo with the Makefile's settings: the time the digest is compared with."""
    out = work / "train-out"
    argv = [MMAR_CLI, "train", str(DEMO), "--set", *DEMO_SET, f"MMAR_CKPT_DIR={out}"]
    env = {**os.environ, "MMAR_DATA_CACHE": str(work / "train-digests.sqlite")}  # not the user's own cache
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"training failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"argv": argv[1:], "seconds": seconds}


def with_folder(parent: Path, make: Callable[[Path], list[Path]], run: Callable[[Path, list[Path]], dict[str, Any]]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="mmar-digest-bench-", dir=parent))
    try:
        started = time.perf_counter()
        files = make(folder)
        log(f"wrote {len(files)} files under {folder} in {time.perf_counter() - started:.1f} s")
        return run(folder, files)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-train", action="store_true", help="leave out the training baseline")
    parser.add_argument("--skip-large", action="store_true", help="leave out the large data set")
    parser.add_argument("--large-gb", type=int, default=10, help="size of the large data set (needs 2.5 times as much free)")
    parser.add_argument("--small-files", type=int, default=SMALL_FILES, help="files in the many-small-files set")
    parser.add_argument("--tmp", type=Path, default=Path("/tmp"), help="where the synthetic files are written")
    parser.add_argument("--out", type=Path, default=None, help="raw results JSON (default bench/results/data_digest.json)")
    args = parser.parse_args()
    results: dict[str, Any] = {"workers": 4, "trust_window_s": 2, "eviction": "posix_fadvise(DONTNEED) per file after fsync"}
    with tempfile.TemporaryDirectory(prefix="mmar-digest-work-", dir=args.tmp) as scratch:
        work = Path(scratch)
        sets: dict[str, Any] = {"demo": measure_set("demo", demo_files(), DEMO_DATA, args.reps, work)}
        small = f"small_{args.small_files}"
        sets[small] = with_folder(args.tmp, lambda folder: write_small(folder, args.small_files),
                                  lambda root, files: measure_set(small, files, root, args.reps, work))
        if not args.skip_large:
            name = f"large_{args.large_gb}gb"
            sets[name] = with_folder(args.tmp, lambda folder: write_large(folder, args.large_gb),
                                     lambda root, files: measure_set(name, files, root, args.reps, work))
        results["sets"] = sets
        if not args.skip_train:
            results["train_baseline"] = train_baseline(work)
            log(f"demo training: {results['train_baseline']['seconds']:.1f} s")
    train_s = results.get("train_baseline", {}).get("seconds")
    for name, figures in results["sets"].items():
        medians = figures["median_s"]
        share = "" if not train_s else " | " + ", ".join(f"{k} {v / train_s:.2%}" for k, v in medians.items())
        print(f"{name}: {figures['files']} files, {figures['bytes'] / 1e9:.3f} GB: "
              + ", ".join(f"{k} {v:.3f} s" for k, v in medians.items()) + share)
    write_result("data_digest", results, args.out)


if __name__ == "__main__":
    main()
