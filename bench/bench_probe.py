"""A tiny ignite handler the benchmark attaches to every variant's trainer.

On the first ``Events.ITERATION_COMPLETED`` it writes ``time.time()`` to the file named by the
environment variable ``BENCH_FIRST_ITER_FILE``. The harness records ``time.time()`` right before it
launches the process, so the difference is "process launch -> first completed training iteration",
measured the same way in every variant. With the variable unset the probe does nothing.

This file must stay importable with nothing but the standard library and ignite: it is copied into
the MMAR's ``custom/`` folder and put on ``PYTHONPATH`` for the MONAI bundle.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

ENV_VAR = "BENCH_FIRST_ITER_FILE"


class FirstIterationProbe:
    """Record the wall-clock time of the first completed iteration of the engine it is attached to."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.recorded: float | None = None

    def attach(self, engine: Any) -> None:
        """Register on ``engine`` for the first ITERATION_COMPLETED event only."""
        from ignite.engine import Events

        target = os.environ.get(ENV_VAR)
        self.path = Path(target) if target else None
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), self._record)

    def _record(self, _engine: Any) -> None:
        self.recorded = time.time()
        if self.path is not None:
            self.path.write_text(repr(self.recorded), encoding="utf-8")
