"""An ignite handler for the GPU check: iterations/s of the training loop and peak GPU memory.

Attached to every variant's trainer, beside ``bench_probe.FirstIterationProbe``. It waits for the
device at the end of every iteration (``torch.cuda.synchronize``), so an iteration's time is the
GPU's time and not only the CPU's launch of it; every variant pays the same waits. At the end of
the run it writes to the file named by ``BENCH_GPU_PROBE_FILE`` (nothing without it):

* ``iterations`` and the wall-clock times of the first and the last completed iteration, from
  which iterations/s is taken over the iterations after the first (the first pays for cuDNN's
  set-up and the allocator's growth);
* ``max_memory_allocated`` / ``max_memory_reserved`` of the training device (CUDA only): peak
  memory held by tensors and by PyTorch's caching allocator, the training loop and validation
  included.

Standard library, torch and ignite only: it is copied into the MMAR's ``custom/`` folder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ENV_VAR = "BENCH_GPU_PROBE_FILE"


class GpuProbe:
    """Count and time completed training iterations; read peak device memory at the end."""

    def __init__(self) -> None:
        self.iterations = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def attach(self, engine: Any) -> None:
        """Every ITERATION_COMPLETED, and COMPLETED once (after validation and the final checkpoint)."""
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _iteration(self, engine: Any) -> None:
        _synchronize(engine)
        now = time.time()
        self.iterations += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def _completed(self, engine: Any) -> None:
        target = os.environ.get(ENV_VAR)
        if not target:
            return
        record: dict[str, Any] = {"iterations": self.iterations, "first_iteration_at": self.first_at,
                                  "last_iteration_at": self.last_at, "device": str(_engine_device(engine))}
        record.update(_peak_memory(engine))
        Path(target).write_text(json.dumps(record), encoding="utf-8")


def _engine_device(engine: Any) -> Any:
    """MONAI's engines keep their device in ``engine.state.device`` (None for a plain ignite engine)."""
    return getattr(engine.state, "device", None)


def _synchronize(engine: Any) -> None:
    import torch

    device = _engine_device(engine)
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(engine: Any) -> dict[str, int | None]:
    import torch

    device = _engine_device(engine)
    if device is None or torch.device(device).type != "cuda":
        return {"max_memory_allocated": None, "max_memory_reserved": None}
    return {"max_memory_allocated": int(torch.cuda.max_memory_allocated(device)),
            "max_memory_reserved": int(torch.cuda.max_memory_reserved(device))}
