"""ignite handlers the runner attaches to every trainer: the run record and progress output."""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

LEARNING_RATE_ATTRIBUTE = "learning_rate"  # on the trainer's state from each epoch's start; TensorBoard reads it there


def output_loss(output: Any) -> float | None:
    """The loss in an engine output: a decollated list of dicts, a dict, or a tensor."""
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], dict):
        output = output[0]
    if isinstance(output, dict):
        output = output.get("loss")
    if output is None:
        return None
    try:
        return float(output.item() if hasattr(output, "item") else output)
    except (TypeError, ValueError):
        return None


def current_learning_rate(optimizer: Any | None) -> float | None:
    """The learning rate of an optimizer's first parameter group (what a scheduler changes); None without one."""
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        return None
    try:
        return float(groups[0]["lr"])
    except (KeyError, TypeError, ValueError):
        return None


def epoch_mean(losses: list[float]) -> float | None:
    """The epoch's mean loss; None when there is none or it is not finite (NaN would make train_stats.json invalid JSON)."""
    if not losses:
        return None
    mean = sum(losses) / len(losses)
    return mean if math.isfinite(mean) else None


@dataclass
class RunRecord:
    """What happened during training, filled in by handlers, read by the manifest writer."""

    epoch_losses: list[float | None] = field(default_factory=list)  # None: no finite loss that epoch (loss_notes says why)
    loss_notes: list[str] = field(default_factory=list)
    epoch_metrics: list[dict[str, float]] = field(default_factory=list)
    epoch_learning_rates: list[float | None] = field(default_factory=list)  # in force when each epoch began
    key_metric_name: str | None = None
    best_metric: float | None = None
    best_epoch: int | None = None
    terminated_early: bool = False
    iterations: int = 0
    epochs_completed: int = 0
    first_iteration_at: float | None = None
    planned_iterations: int | None = None
    attached: bool = False
    _running_loss: list[float] = field(default_factory=list)
    _validated: dict[str, float] = field(default_factory=dict)
    _epoch_lr: float | None = None

    def attach(self, trainer: Any, evaluator: Any | None, total_epochs: int | None, show_progress: bool,
               max_iterations: int | None = None, optimizer: Any | None = None) -> None:
        """Record loss, metrics and learning rate per epoch on ``trainer``; ``optimizer`` is where the rate is read."""
        from ignite.engine import Events

        started = time.perf_counter()
        self.attached = True

        def on_started(engine: Any) -> None:
            state = engine.state
            if state.max_epochs and state.epoch_length:
                self.planned_iterations = state.max_epochs * state.epoch_length

        def on_epoch_started(engine: Any) -> None:
            # Read before the epoch's first step: an epoch-level scheduler has stepped at the previous epoch's
            # end. TensorBoardStatsHandler writes it at the epoch's end from its ``state_attributes`` (wiring.py),
            # which need a number: NaN when there is no optimizer to read.
            self._epoch_lr = current_learning_rate(optimizer if optimizer is not None else getattr(engine, "optimizer", None))
            setattr(engine.state, LEARNING_RATE_ATTRIBUTE, self._epoch_lr if self._epoch_lr is not None else math.nan)

        def on_iteration(engine: Any) -> None:
            if self.first_iteration_at is None:
                self.first_iteration_at = time.perf_counter()
            self.iterations = engine.state.iteration
            loss = output_loss(engine.state.output)
            if loss is not None:
                self._running_loss.append(loss)
            if max_iterations is not None and engine.state.iteration >= max_iterations:
                engine.terminate()  # a short run (mmar verify); the manifest says it ended early

        def on_validated(evaluator_engine: Any) -> None:
            # Runs only on epochs the ValidationHandler validated; other epochs report no metrics.
            state = evaluator_engine.state
            self._validated = {k: float(v) for k, v in state.metrics.items() if isinstance(v, (int, float))}
            self.key_metric_name = getattr(state, "key_metric_name", None) or self.key_metric_name
            best = getattr(state, "best_metric", None)
            if best is not None and best != -1:
                self.best_metric = float(best)
                self.best_epoch = int(getattr(state, "best_metric_epoch", 0)) or None

        def on_epoch(engine: Any) -> None:
            self.epochs_completed = engine.state.epoch
            mean = epoch_mean(self._running_loss)
            if mean is None:
                why = "no iteration reported a loss" if not self._running_loss else "the loss was not a finite number"
                self.loss_notes.append(f"epoch {engine.state.epoch}: {why}")
            self._running_loss.clear()
            self.epoch_losses.append(mean)
            self.epoch_learning_rates.append(self._epoch_lr)
            metrics, self._validated = self._validated, {}
            self.epoch_metrics.append(metrics)
            total = f"/{total_epochs}" if total_epochs else ""
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            best = f"  (best {self.best_metric:.4f} @ epoch {self.best_epoch})" if metrics and self.best_metric is not None else ""
            loss = f"{mean:.4f}" if mean is not None else "n/a"
            rate = f"  lr {self._epoch_lr:.3g}" if self._epoch_lr is not None else ""
            logger.info("epoch %d%s  loss %s%s  %s%s  [%.1fs]", engine.state.epoch, total, loss, rate, shown, best,
                        time.perf_counter() - started)

        def on_terminate(_: Any) -> None:
            self.terminated_early = True

        if evaluator is not None:
            evaluator.add_event_handler(Events.COMPLETED, on_validated)
        trainer.add_event_handler(Events.STARTED, on_started)
        trainer.add_event_handler(Events.EPOCH_STARTED, on_epoch_started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, on_iteration)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, on_epoch)
        trainer.add_event_handler(Events.TERMINATE, on_terminate)
        if show_progress and sys.stderr.isatty():
            from ignite.handlers import ProgressBar

            ProgressBar(persist=False).attach(trainer, output_transform=lambda out: {"loss": output_loss(out) or 0.0})

    def summary(self) -> dict[str, Any]:
        """What the run did, for the manifest (also after a failure); None where a BYOW trainer did not say."""
        if not self.attached:
            return {"epochs_completed": None, "iterations": None, "planned_iterations": None, "ended_early": None,
                    "key_metric": None, "final_loss": None}
        return {
            "epochs_completed": self.epochs_completed,
            "iterations": self.iterations,
            "planned_iterations": self.planned_iterations,
            "ended_early": self.terminated_early,
            "key_metric": {"name": self.key_metric_name, "best": self.best_metric, "best_epoch": self.best_epoch},
            "final_loss": self.epoch_losses[-1] if self.epoch_losses else None,  # the last epoch's mean training loss
        }

    def train_stats(self, duration: float) -> dict[str, Any]:
        """The content of train_stats.json (Clara wrote it with --write_train_stats)."""
        summary = self.summary()
        return {
            "total_time_s": round(duration, 3),
            "epochs_completed": summary["epochs_completed"],
            "iterations": summary["iterations"],
            "terminated_early": summary["ended_early"],
            "key_metric_name": self.key_metric_name,
            "best_validation_metric": self.best_metric,
            "best_validation_epoch": self.best_epoch,
            "train_loss_per_epoch": self.epoch_losses,
            "train_loss_notes": self.loss_notes,  # why an epoch's loss is null: JSON has no NaN
            "validation_metrics_per_epoch": self.epoch_metrics,
            "learning_rate_per_epoch": self.epoch_learning_rates,  # first parameter group, as each epoch began
        }
