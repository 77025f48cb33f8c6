"""The run's data record: one content digest of the files its datalists name, for manifest, resume and tracking.

The manifest holds the summary (``data``: digest, file count, bytes, and the name of the per-file
list); the list itself goes beside the manifest (``data_files.json``, written by the run session
with the manifest), so ``mmar diff`` and a refused resume can name the first file that changed.

Under torchrun rank 0 hashes and the other ranks receive its record: every rank then keys its
resume check on the same digest, and the data is read once, not once per process.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from runner.data.content_digest import DATA_FILES_NAME, DataDigest, Progress, digest_files
from runner.data.digest_cache import DigestCache
from runner.data.named_files import datalist_files
from runner.errors import MmarRunnerError, first_line
from runner.jsonio import load_json
from runner.manifest import MANIFEST_NAME

logger = logging.getLogger(__name__)

PROGRESS_DELAY_S = 2.0  # the bar shows only when hashing takes longer than this (a cached run never shows it)


def data_files_name(manifest_name: str) -> str:
    """``data_files.json`` beside ``run_manifest.json``; ``validate_data_files.json`` beside ``validate_manifest.json``."""
    if manifest_name == MANIFEST_NAME:
        return DATA_FILES_NAME
    return manifest_name.removesuffix("manifest.json") + DATA_FILES_NAME


def digest_run_data(builder: Any, cache_path: str, show_progress: bool, sections: Sequence[str] = ("train", "validate")) -> DataDigest:
    """Hash every file the datalists of ``sections`` name; ``cache_path`` "" hashes without a cache.

    Raises ConfigError (exit 2) naming the datalist entry of a missing or unreadable file.
    """
    named = datalist_files(builder, sections)
    root = data_root(builder.loaded.variables)
    cache_context = DigestCache(Path(cache_path)) if cache_path else nullcontext(None)
    with cache_context as cache, _progress_bar(show_progress) as progress:
        data = digest_files(named, root, cache, progress=progress)
    stats = data.stats
    logger.info("data: %d files, %.1f MB, %s (%d hashed, %d from the cache, %.2f s)", data.files, data.bytes / 1e6,
                data.digest, stats.hashed_files, stats.cached_files, stats.seconds)
    return data


def data_root(variables: Mapping[str, Any]) -> str | None:
    """DATA_ROOT, which the per-file list's paths are relative to (None: every path absolute)."""
    root = variables.get("DATA_ROOT")
    return os.path.abspath(str(root)) if root else None


def manifest_record(data: DataDigest, list_name: str, root: str | None) -> dict[str, Any]:
    """The manifest's ``data``: the digest and its size, where the per-file list is, and what computing it cost."""
    stats = data.stats
    return {**data.summary(), "list": list_name, "root": root,
            "hashing": {"hashed_files": stats.hashed_files, "hashed_bytes": stats.hashed_bytes, "cached_files": stats.cached_files,
                        "seconds": round(stats.seconds, 3)}}


def load_data_list(folder: Path, record: Any) -> DataDigest | None:
    """The per-file list a manifest's (or a checkpoint's) ``data`` record names, from ``folder``; None when not usable.

    None when the record names none, or the file is absent, unreadable, or not the record's data.
    The list is data from an output folder: its name must be a bare file name, and its entries
    must hash to the digest the record holds.
    """
    if not isinstance(record, Mapping):
        return None
    name = record.get("list")
    if not isinstance(name, str) or not name or Path(name).name != name:
        return None
    path = folder / name
    if not path.is_file():
        return None
    try:
        data = DataDigest.from_json(load_json(path, str(path)), source=str(path))
    except MmarRunnerError as exc:
        logger.warning("%s is not used: %s", path, first_line(exc))
        return None
    return data if data.digest == record.get("digest") else None


@contextmanager
def _progress_bar(show: bool) -> Iterator[Progress | None]:
    """A tqdm bar of bytes hashed, on a terminal, once hashing has taken :data:`PROGRESS_DELAY_S`."""
    if not (show and sys.stderr.isatty()):
        yield None
        return
    from tqdm import tqdm

    bars: list[Any] = []  # made at the first report, when the bytes to hash are known

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc="hashing data", unit="B", unit_scale=True, unit_divisor=1024,
                             delay=PROGRESS_DELAY_S, leave=False))
        bars[0].update(done - bars[0].n)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def shared_from_main(compute: Callable[[], DataDigest], is_main: bool, distributed: bool) -> DataDigest:
    """``compute()`` on rank 0, its result on every rank; a bad-input error on rank 0 is raised on every rank."""
    if not distributed:
        return compute()
    import torch.distributed as dist

    box: list[Any] = [None]
    failure: MmarRunnerError | None = None
    if is_main:
        try:
            box[0] = compute()
        except MmarRunnerError as exc:
            failure = exc
            box[0] = exc.render()
    dist.broadcast_object_list(box, src=0)  # between this job's own processes only, as the resume RNG states are
    if failure is not None:
        raise failure
    if isinstance(box[0], str):
        raise MmarRunnerError(f"rank 0 could not hash the data: {box[0]}")
    return box[0]
