"""Preemption-safe training: resume checkpoints, SIGTERM handling, and an exact restart.

A resume checkpoint (``<MMAR_CKPT_DIR>/resume/ckpt-<iteration>.pt``) holds everything the rest of
the run depends on: model, optimizer, scheduler, AMP scaler, engine position, the run record, the
evaluator's best metric, the checkpoint savers' bookkeeping, every global RNG state, and the data
RNG states (DataLoader generators, random transforms) as they were when the current epoch started.
One is written on SIGTERM or Ctrl-C (SIGINT), after the step in progress, and at the end of an epoch once
``MMAR_RESUME_EVERY_S`` seconds (default 60) have passed since the last one: with short epochs a
checkpoint per epoch would cost a few percent of the run (torch.save of model and optimizer takes
tens of milliseconds for the demo's 14 MB, and grows with the model), while a hard kill (SIGKILL, a
lost node) then loses at most that interval plus one epoch. ``0`` writes one at every epoch end.

Under torchrun every rank must stop, and save, after the same step, or the ranks' collectives
would no longer pair up (a rank left training waits forever for one that stopped). SIGTERM may reach
one rank only (one pod of a multi-node job) at any moment, so the signal only marks this process
(``signalled``, never cleared); whether to save and stop is decided at each iteration end and epoch
end by one reduction over all ranks, and every rank acts on that agreed answer. A SIGTERM that is
acted on at the end of the last epoch (it came during its last step or its validation) lets the run
finish instead: nothing is left to train, and a checkpoint there could not be continued (ignite
starts a finished run over from epoch 1).

Restarting with the same output folder loads the newest complete one. At an epoch boundary the
states are simply restored. Mid-epoch, the data RNGs are rewound to the start of the epoch and the
batches already trained on are drawn again and skipped, so the rest of the epoch sees exactly the
batches it would have seen: both resumes continue bit for bit (tests/integration/test_resume.py).

Files are written to a temporary name and renamed, so a reader never sees half of one; a file cut
short anyway (a full disk, a copy interrupted) fails to load and the previous one is used.

A resume checkpoint is data, like everything in the output folder: it holds only tensors, numbers,
strings, lists and dicts (numpy RNG states are stored as tensors), and is read with
``torch.load(weights_only=True)``, which runs none of pickle's code paths. A file that needs more
(a pickle someone put there) is refused, exit 2, naming it; nothing in it runs.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner.components.atomic_checkpoints import SAVER_PARTS
from runner.errors import MmarRunnerError, RunFailedError, first_line
from runner.jsonio import write_atomic
from runner.workflow.resume_store import FORMAT, Found, RunInputs, resume_dir

logger = logging.getLogger(__name__)

KEEP = 2
INTERVAL_ENV = "MMAR_RESUME_EVERY_S"
DEFAULT_INTERVAL_S = 60.0
RECORD_FIELDS = ("epoch_losses", "epoch_metrics", "key_metric_name", "best_metric", "best_epoch", "iterations",
                 "epochs_completed", "_running_loss", "loss_notes", "epoch_learning_rates")


def checkpoint_interval(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds between epoch-end resume checkpoints, from ``MMAR_RESUME_EVERY_S`` (bad values exit 2)."""
    raw = environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0:  # NaN and negatives; "inf" is allowed: checkpoints on SIGTERM only
        raise MmarRunnerError(f"{INTERVAL_ENV}={raw!r} is not a number of seconds >= 0",
                              hint=f"{INTERVAL_ENV}=0 writes a resume checkpoint at every epoch end; unset it for the "
                                   f"default ({DEFAULT_INTERVAL_S:g} s)")
    return value


STOP_SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}
STOP_LINES = {"SIGTERM": "SIGTERM: finishing the current step, then writing a resume checkpoint",
              "SIGINT": "Ctrl-C: finishing the current step, then writing a resume checkpoint"}


@contextmanager
def signals_request_checkpoint(keeper: ResumeKeeper, escalate: bool = True) -> Iterator[None]:
    """While training, SIGTERM and Ctrl-C (SIGINT) ask for a checkpoint after the current step instead of killing the process.

    The first signal names how the run ends (``preempted`` or ``interrupted``). With ``escalate``, a
    second Ctrl-C stops at once (Python's KeyboardInterrupt); under torchrun it must not, since the
    agent forwards the Ctrl-C its whole process group already received, a second one by design.
    """
    owner = os.getpid()

    def on_signal(signum: int, frame: Any) -> None:
        if os.getpid() != owner:
            return  # a DataLoader worker forked with this handler: a terminal's Ctrl-C reaches it too; the main process decides
        name = STOP_SIGNALS[signal.Signals(signum)]
        if keeper.stop_signal is None:
            logger.warning("%s%s", STOP_LINES[name], " (Ctrl-C again stops at once)" if escalate and name == "SIGINT" else "")
            keeper.stop_signal = name
        elif escalate and name == "SIGINT":
            raise KeyboardInterrupt
        keeper.signalled = True  # the ranks agree on what to do at the next step's end (ResumeKeeper)

    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)
    except ValueError:  # not the main thread (in-process test runners): no signal handling
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class ResumeKeeper:
    """Writes resume checkpoints for one trainer and restores one before the trainer runs."""

    def __init__(self, ckpt_dir: Path, builder: Any, trainer: Any, evaluator: Any, record: Any, inputs: RunInputs,
                 is_main: bool, every_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = resume_dir(ckpt_dir)
        self.builder = builder
        self.trainer = trainer
        self.evaluator = evaluator
        self.record = record
        self.inputs = inputs
        self.found: Found | None = None  # the checkpoint this run continues from (runner.workflow.resume_store)
        self.tracking_run_id: str | None = None  # the MLflow run a resumed run continues (text, like all of a checkpoint)
        self.last_saved: Path | None = None
        self.is_main = is_main
        self.signalled = False  # this process got SIGTERM or Ctrl-C; set by the signal handler only, never cleared
        self.preempted = False  # every rank agreed to stop here after writing a resume checkpoint
        self.stop_signal: str | None = None  # "SIGTERM" or "SIGINT": which signal asked this process to stop
        self.every_s = every_s
        self._clock = clock
        self._last_saved = clock()
        self._epoch_start: dict[str, Any] = {}
        self._resumed_mid_epoch = False

    @property
    def resumed_from(self) -> Path | None:
        return self.found.path if self.found is not None else None

    def attach_and_resume(self) -> None:
        """Attach the checkpoint handlers, then restore the checkpoint found, if any (a failure names its file).

        Raises:
            RunFailedError: the checkpoint's state does not fit the trainer; nothing was changed on disk.
        """
        self.attach()
        if self.found is None:
            return
        try:
            self.restore(self.found)
        except Exception as exc:  # noqa: BLE001 - a state that does not fit: say which file, keep everything
            raise RunFailedError(f"resuming from {self.found.path} failed: {type(exc).__name__}: {first_line(exc)}",
                                 hint="mmar train --fresh starts from the beginning") from exc

    # ---- during training -------------------------------------------------------------------
    def attach(self) -> None:
        from ignite.engine import Events

        # Registered after every handler of the config, so an epoch checkpoint sees the epoch's validation.
        self._last_saved = self._clock()  # the interval counts from the start of training, not from set-up
        self.trainer.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        self.trainer.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        self.trainer.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _epoch_started(self, engine: Any) -> None:
        if self._resumed_mid_epoch:
            self._resumed_mid_epoch = False  # this epoch started in the earlier run; keep that snapshot
            return
        self._epoch_start = data_rng_state(self.builder)

    def _position(self, engine: Any) -> int:
        length = engine.state.epoch_length
        return engine.state.iteration - (engine.state.epoch - 1) * length

    def _iteration_completed(self, engine: Any) -> None:
        stop, _ = _any_rank(self.signalled, False)  # every rank stops after the same step, or DDP would hang
        if stop and self._position(engine) < engine.state.epoch_length and not engine.should_terminate:
            self._stop(engine)
        # At the epoch's last step the checkpoint waits for the epoch's end (and its validation): ``signalled``
        # stays set, so the epoch-end reduction agrees again.

    def _epoch_completed(self, engine: Any) -> None:
        # One reduction decides both, for every rank alike: save gathers the ranks' RNG states, and a rank
        # that stopped alone would leave the others waiting in their next collective.
        stop, due = _any_rank(self.signalled, self.due())
        if _ending(engine):
            if stop and self.is_main:
                logger.warning("%s in the last epoch: finishing the run instead of writing a resume checkpoint",
                               "Ctrl-C" if self.stop_signal == "SIGINT" else "SIGTERM")
            return  # nothing left to resume: a checkpoint here would only make a restart train the run again
        if stop:
            self._stop(engine)
        elif due:
            self.save(engine)

    def _stop(self, engine: Any) -> None:
        """Save and end the run here, as every rank does at this same step."""
        self.preempted = True
        self.save(engine)
        engine.terminate(skip_completed=True)  # not COMPLETED: no handler writes a "final" model of a run cut short

    def due(self) -> bool:
        """Whether an epoch end now should write a resume checkpoint (``every_s`` since the last one)."""
        return self._clock() - self._last_saved >= self.every_s

    def save(self, engine: Any) -> Path | None:
        """Write a resume checkpoint (rank 0); every rank calls this at the same step, for its RNG states."""
        self._last_saved = self._clock()
        if not (self.is_main or _distributed()):
            return None  # nothing to write and no one to gather for
        rng = _every_rank({"rng": global_rng_state(), "data_rng_now": data_rng_state(self.builder),
                           "data_rng_at_epoch_start": self._epoch_start})
        if not self.is_main:
            return None
        import torch

        from runner.manifest import model_state

        state = engine.state
        payload = {
            "format": FORMAT,
            "inputs": self.inputs.as_data(),
            "epoch": state.epoch,
            "iteration": state.iteration,
            "epoch_length": state.epoch_length,
            "position": self._position(engine),
            "model": dict(model_state(engine.network)),
            "optimizer": engine.optimizer.state_dict() if getattr(engine, "optimizer", None) is not None else None,
            "lr_scheduler": _state(self.builder.built("train", "lr_scheduler")),
            "scaler": _state(getattr(engine, "scaler", None)),
            "rng_by_rank": rng,  # rank r's global and data RNG states at [r]
            "tracking_run_id": self.tracking_run_id,
            "record": {name: getattr(self.record, name) for name in RECORD_FIELDS},
            "evaluator": _evaluator_state(self.evaluator),
            "savers": [{part: getattr(saver, part).state_dict() for part in SAVER_PARTS if getattr(saver, part, None) is not None}
                       for saver in checkpoint_savers(self.builder)],
        }
        path = self.folder / f"ckpt-{state.iteration:09d}.pt"
        write_atomic(path, lambda tmp: torch.save(payload, tmp))
        for old in sorted(self.folder.glob("ckpt-*.pt"))[:-KEEP]:
            old.unlink(missing_ok=True)
        logger.debug("resume checkpoint %s", path)
        self.last_saved = path
        return path

    # ---- before training -------------------------------------------------------------------
    def restore(self, found: Found) -> None:
        """Put the trainer, its objects and every RNG where the checkpointed run was."""
        payload = found.payload
        rng = payload["rng_by_rank"][_rank()]
        engine = self.trainer
        network = engine.network
        inner = network.module if hasattr(network, "module") else network
        inner.load_state_dict(payload["model"])
        if payload["optimizer"] is not None:
            engine.optimizer.load_state_dict(payload["optimizer"])
        _load(self.builder.built("train", "lr_scheduler"), payload["lr_scheduler"])
        _load(getattr(engine, "scaler", None), payload["scaler"])
        for name, value in payload["record"].items():
            setattr(self.record, name, value)
        if self.evaluator is not None:
            for name, value in payload["evaluator"].items():
                setattr(self.evaluator.state, name, value)
        for saver, parts in zip(checkpoint_savers(self.builder), payload["savers"], strict=False):
            for part, state in parts.items():
                getattr(saver, part).load_state_dict(state)
        length, position, epoch = payload["epoch_length"], payload["position"], payload["epoch"]
        mid_epoch = 0 < position < length
        engine.state.epoch_length = length
        engine.state.iteration = payload["iteration"]
        engine.state.epoch = epoch - 1 if mid_epoch else epoch
        set_global_rng_state(rng["rng"])
        set_data_rng_state(self.builder, rng["data_rng_now"])
        if mid_epoch:
            # Rewind the data RNGs to the epoch's start and draw again the batches already trained on.
            set_data_rng_state(self.builder, rng["data_rng_at_epoch_start"])
            sampler = getattr(engine.data_loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)  # what MONAI does at EPOCH_STARTED, which has not fired yet for this epoch
            batches = iter(engine.data_loader)
            for _ in range(position):
                next(batches)
            set_global_rng_state(rng["rng"])  # drawing batches must not move the training RNG
            engine.state.dataloader = engine.data_loader
            engine._dataloader_iter = batches  # ignite: continue this epoch from this iterator
            engine._init_iter = position
            self._epoch_start = rng["data_rng_at_epoch_start"]
            self._resumed_mid_epoch = True
        logger.info("resuming from %s: epoch %d, iteration %d%s", found.path.name, epoch, payload["iteration"],
                    f" ({position} of {length} batches into the epoch)" if mid_epoch else "")


def _any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag, true when it is true on any rank: one reduction for all (a no-op outside torchrun)."""
    if not _distributed():
        return tuple(flags)
    import torch
    import torch.distributed as dist

    value = torch.tensor([1 if flag else 0 for flag in flags], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return tuple(bool(item) for item in value.tolist())


def _ending(engine: Any) -> bool:
    """Whether the run ends at this epoch's end anyway: its last epoch, or a handler already ended it (early stopping)."""
    state = engine.state
    return bool(engine.should_terminate) or (state.max_epochs is not None and state.epoch >= state.max_epochs)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if _distributed() else 0


def _every_rank(state: dict[str, Any]) -> list[dict[str, Any]]:
    """``state`` of every rank, in rank order (one process: a list of one).

    The states travel between this job's own processes only; what is written is plain data, as ever.
    """
    if not _distributed():
        return [state]
    import torch.distributed as dist

    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return gathered


def _state(obj: Any) -> Any:
    return obj.state_dict() if obj is not None and hasattr(obj, "state_dict") else None


def _load(obj: Any, state: Any) -> None:
    if obj is not None and state is not None:
        obj.load_state_dict(state)


def _evaluator_state(evaluator: Any) -> dict[str, Any]:
    if evaluator is None:
        return {}
    state = evaluator.state
    return {name: _plain_number(getattr(state, name, None)) for name in ("best_metric", "best_metric_epoch", "key_metric_name")}


def _plain_number(value: Any) -> Any:
    """numpy and 0-d tensor scalars as Python numbers (weights_only loads plain data only)."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def checkpoint_savers(builder: Any) -> list[Any]:
    """The config's CheckpointSavers, in a fixed order (train handlers, then validate handlers)."""
    from monai.handlers import CheckpointSaver

    found = []
    for section in ("train", "validate"):
        for handler in builder.built(section, "handlers") or []:
            if isinstance(handler, CheckpointSaver):
                found.append(handler)
    return found


def global_rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": numpy_state_as_data(np.random.get_state()), "python": random.getstate()}


def set_global_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(numpy_state_from_data(state["numpy"]))
    random.setstate(state["python"])


def numpy_state_as_data(state: tuple) -> dict[str, Any]:
    """A numpy RandomState's ``get_state()`` (it holds an ndarray) as tensors and numbers: weights_only loads it."""
    import numpy as np
    import torch

    name, keys, position, has_gauss, cached = state
    return {"bit_generator": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(position),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def numpy_state_from_data(data: dict[str, Any]) -> tuple:
    import numpy as np

    return (data["bit_generator"], data["keys"].numpy().astype(np.uint32), data["pos"], data["has_gauss"], data["cached_gaussian"])


def _randomizables(builder: Any) -> list[Any]:
    from runner.determinism import iter_randomizables

    found = []
    for section in ("train", "validate"):
        dataset = builder.built(section, "dataset")
        if dataset is not None:
            found += list(iter_randomizables(dataset))
    return found


def _generators(builder: Any) -> dict[str, Any]:
    found = {}
    for section in ("train", "validate"):
        loader = builder.built(section, "dataloader")
        generator = getattr(loader, "generator", None)
        if generator is not None:
            found[section] = generator
    return found


def data_rng_state(builder: Any) -> dict[str, Any]:
    return {"generators": {name: g.get_state() for name, g in _generators(builder).items()},
            "transforms": [numpy_state_as_data(t.R.get_state()) for t in _randomizables(builder)]}


def set_data_rng_state(builder: Any, state: dict[str, Any]) -> None:
    for name, generator in _generators(builder).items():
        if name in state.get("generators", {}):
            generator.set_state(state["generators"][name])
    for transform, saved in zip(_randomizables(builder), state.get("transforms", []), strict=False):
        transform.R.set_state(numpy_state_from_data(saved))
