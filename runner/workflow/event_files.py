"""TensorBoard event files that hold nothing: a run that failed early leaves one per SummaryWriter.

An event file is a sequence of TFRecords (length, its CRC, the data, the data's CRC); every writer
starts one with a single ``file_version`` record. A file of no more than that record shows nothing in
TensorBoard, and beside a failed run it only makes the folder look like it trained.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

EVENT_FILE_PREFIX = "events.out.tfevents."
RECORD_OVERHEAD = 8 + 4 + 4  # length, length CRC, data CRC


def event_records(path: Path) -> int:
    """How many whole records an event file holds (a record cut short is not counted)."""
    count = 0
    with path.open("rb") as handle:
        while True:
            header = handle.read(12)
            if len(header) < 12:
                return count
            (length,) = struct.unpack("<Q", header[:8])
            body = handle.read(length + 4)
            if len(body) < length + 4:
                return count
            count += 1


def is_empty_event_file(path: Path) -> bool:
    """An event file with no record but the writer's ``file_version`` one."""
    return path.name.startswith(EVENT_FILE_PREFIX) and event_records(path) <= 1


def remove_empty_event_files(paths: Iterable[Path]) -> list[Path]:
    """Remove the empty event files among ``paths`` (a failed run's own files); return what was removed."""
    removed = []
    for path in paths:
        try:
            if path.is_file() and is_empty_event_file(path):
                path.unlink()
                removed.append(path)
        except OSError as exc:
            logger.debug("left %s: %s", path, exc)
    if removed:
        logger.debug("removed %d empty TensorBoard event file(s) of the failed run", len(removed))
    return removed
