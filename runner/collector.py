"""Garbage-collector settings for the ``mmar`` process: a start-up that makes ~650k objects, then a long run.

Importing torch, torch._dynamo and MONAI creates several hundred thousand long-lived objects
(modules, classes, functions). With the collector on, that growth keeps triggering full
collections that walk every one of them again and find nothing to free, and the interpreter walks
them once more when it exits. On the benchmark machine that is about 0.6 s of a 2.3 s start-up and
0.8 s of exit (docs/BENCHMARKS.md). So the entry point pauses collection for the start-up,
:func:`startup_done` freezes what the start-up made (it is never garbage; the collector stops
looking at it) and turns collection back on before any training or evaluation loop runs, and
:func:`before_exit` freezes again so the exit does not walk the heap.

The price: garbage cycles made during the start-up are frozen with everything else and never
freed. After importing torch and MONAI that is about 15,000 objects, a few MB (peak memory in the
benchmark: +0.9% against the same run untuned); collecting them first would cost one full walk,
a quarter of a second.

Only the console entry point pauses anything: code that imports the runner as a library (tests,
notebooks) keeps its collector as it was. ``MMAR_GC_TUNING=0`` turns all of this off.
"""

from __future__ import annotations

import gc
import os

ENV_SWITCH = "MMAR_GC_TUNING"

_paused = False


def tuning_enabled() -> bool:
    """False when the user set ``MMAR_GC_TUNING=0`` (for comparison, or to rule it out)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def pause_for_startup() -> None:
    """Stop automatic collection until :func:`startup_done` (called by the console entry point only)."""
    global _paused
    if tuning_enabled() and gc.isenabled():
        gc.disable()
        _paused = True


def startup_done() -> None:
    """Freeze the start-up's objects and collect normally from here on, so a long loop cannot pile up garbage."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False


def before_exit() -> None:
    """Spare the exit a walk over every object (the process is about to give all of its memory back)."""
    if tuning_enabled():
        gc.freeze()
