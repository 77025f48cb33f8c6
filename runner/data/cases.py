"""Which datalist entry a failing transform was working on: ``dataset.json: training[3] (case3.nii.gz): ...``.

MONAI reports a failed transform as "applying transform <monai...LoadImaged object at 0x7f...>",
which names neither the case nor the file. The pre-transforms of a section with a datalist run as a
:class:`LocatedCompose`: when one fails, the entry is found from the paths the data still carries
(the datalist's own strings before loading, a MetaTensor's ``filename_or_obj`` after), and the run
stops with exit 2 (bad input) and ``DATALIST: key[index] (FILE): what failed``. The same happens in
DataLoader worker processes (the error crosses back to the main process) and while a CacheDataset
fills its cache. A failure that means the config does not fit the data (a crop larger than the
image) names the setting to change instead (:mod:`runner.workflow.diagnose`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.dummy import DummyProcess
from pathlib import Path
from typing import Any

from monai.transforms import Compose

from runner.errors import DataCaseError, DataMismatchError, MmarRunnerError, first_line
from runner.workflow.diagnose import ConfigTrace, failure_line, innermost


@dataclass(frozen=True)
class CaseIndex:
    """The files of a datalist's entries, for finding the entry a piece of data came from."""

    datalist: str  # the datalist file, as shown in messages
    key: str  # "training", "validation", ...
    files: Mapping[str, tuple[int, str]]  # normalised path -> (index in the list, the file as the entry names it)

    @classmethod
    def from_entries(cls, datalist: Path | str, key: str, entries: Sequence[Mapping[str, Any]]) -> CaseIndex:
        files: dict[str, tuple[int, str]] = {}
        for index, entry in enumerate(entries):
            for value in entry.values():
                for path in _paths(value):
                    files.setdefault(_normal(path), (index, path))
        return cls(str(datalist), key, files)

    def locate(self, data: Any) -> tuple[int, str] | None:
        """(index, file) of the entry ``data`` came from, or None when it carries no path of the datalist."""
        for path in _carried_paths(data):
            found = self.files.get(_normal(path))
            if found is not None:
                return found
        return None

    def where(self, data: Any) -> str | None:
        """``dataset.json: training[3] (case3.nii.gz)``: the entry ``data`` came from, or None."""
        located = self.locate(data)
        if located is None:
            return None
        index, file = located
        return f"{self.datalist}: {self.key}[{index}] ({file})"

    def describe(self, data: Any, error: BaseException) -> str | None:
        where = self.where(data)
        return f"{where}: {what_failed(error)}" if where is not None else None


class LocatedCompose(Compose):
    """A Compose whose failures name the datalist entry and, where a rule knows it, the setting to change.

    A failure a :mod:`runner.workflow.diagnose` rule explains is a :class:`DataMismatchError` (the
    config does not fit the data; the case it met first is named); any other failure on a located
    case is a :class:`DataCaseError`; the rest are MONAI's own. Calls in flight are counted
    (:func:`wait_for_transforms`).
    """

    def __init__(self, transforms: Any = None, cases: CaseIndex | None = None, trace: ConfigTrace | None = None,
                 **kwargs: Any) -> None:
        super().__init__(transforms, **kwargs)
        self.cases = cases
        self.trace = trace

    def __call__(self, input_: Any, *args: Any, **kwargs: Any) -> Any:
        with _in_flight:
            try:
                return super().__call__(input_, *args, **kwargs)
            except MmarRunnerError:
                raise
            except Exception as exc:
                _in_flight.failed = True
                error = self._located(input_, exc)
                if error is exc:
                    raise
                raise error from exc

    def _located(self, input_: Any, exc: Exception) -> Exception:
        """The error to raise for ``exc``: explained, located, or ``exc`` itself."""
        case = self.cases.where(input_) if self.cases is not None else None
        message, diagnosis = failure_line(exc, self.trace, case)
        if diagnosis is not None:
            return DataMismatchError(message)
        if case is not None:
            return DataCaseError(f"{case}: {what_failed(exc)}")
        return exc


class _InFlight:
    """How many LocatedCompose calls are running, in any thread; lets the process wait for none to be."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A fresh count and lock: in a forked child (a DataLoader worker) the parent's threads are gone, and a
        lock one of them held at the fork would stay held for good."""
        self.count = 0
        self.failed = False  # a call raised: a pool running transforms may have been stopped mid-way
        self.idle = threading.Condition()

    def __enter__(self) -> None:
        with self.idle:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self.idle:
            self.count -= 1
            if self.count == 0:
                self.idle.notify_all()

    def wait(self, timeout_s: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.count == 0, timeout_s)


POOL_JOIN_S = 10.0
_in_flight = _InFlight()
os.register_at_fork(after_in_child=_in_flight.reset)


def wait_for_transforms(timeout_s: float) -> bool:
    """Wait (at most ``timeout_s``) until no transform runs in any thread; False if some still do.

    CacheDataset fills its cache in a ThreadPool; when one case fails, the pool is terminated but
    its threads are not joined, and finish the case they hold on their own. An interpreter that
    exits meanwhile kills them inside torch's C++ code, which aborts the process ("terminate called
    without an active exception", exit -6) after the error was printed. After a failure, ThreadPool
    workers are joined too (a few seconds each at most: an idle worker of a live pool never ends).
    The entry point calls this before the interpreter exits.
    """
    deadline = time.monotonic() + timeout_s
    if not _in_flight.wait(timeout_s):
        return False
    if _in_flight.failed:  # the case's last steps run outside the Compose (CacheDataset's contiguous copy)
        for thread in threading.enumerate():
            if isinstance(thread, DummyProcess):  # a ThreadPool's worker: a stopped pool's end after the case they hold
                thread.join(max(0.0, min(POOL_JOIN_S, deadline - time.monotonic())))
    return True


def what_failed(error: BaseException) -> str:
    """``LoadImaged: ImageFileError: Cannot work out file type of ...``: the innermost transform and error.

    For a custom transform, its file and line too: ``MyNoise (custom/noise.py, line 20): TypeError: ...``.
    """
    from runner.components.registry import user_code_location

    transform, inner = innermost(error)
    where = user_code_location(inner)  # a custom transform's own file and line
    prefix = f"{transform}{where}: " if transform else (f"{where.strip()}: " if where else "")
    return f"{prefix}{type(inner).__name__}: {first_line(inner)}"


def _paths(value: Any) -> list[str]:
    if isinstance(value, str) and ("/" in value or "." in value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str) and ("/" in item or "." in item)]
    return []


def _carried_paths(data: Any) -> list[str]:
    """Paths a (partly transformed) sample still carries: datalist strings, MetaTensor and meta-dict file names."""
    if isinstance(data, (list, tuple)):  # several samples (RandCropByPosNegLabeld's output): the first tells
        return _carried_paths(data[0]) if data else []
    if not isinstance(data, Mapping):
        return _meta_file(data)
    found = []
    for key, value in data.items():
        if isinstance(key, str) and key.endswith("_meta_dict") and isinstance(value, Mapping):
            found += _paths(value.get("filename_or_obj"))
        else:
            found += _paths(value) + _meta_file(value)
    return found


def _meta_file(value: Any) -> list[str]:
    meta = getattr(value, "meta", None)
    return _paths(meta.get("filename_or_obj")) if isinstance(meta, Mapping) else []


def _normal(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))
