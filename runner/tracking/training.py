"""Tracking wired to a training or evaluation run: its start, its metrics, and how it ended.

The run's life lives in :class:`~runner.workflow.session.RunSession`; this is its observer. It
begins before the session's manifest says ``running`` (so the manifest names the MLflow run, and an
unreachable server stops the run before anything is written), logs what the ignite engines report,
and mirrors the session's end: completed -> FINISHED, failed -> FAILED, preempted and interrupted -> KILLED (the
resumed run continues the same MLflow run: its id is in the resume checkpoint, as text).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.tracking.mlflow_run import MlflowRun, flat_params
from runner.tracking.options import TrackingOptions

logger = logging.getLogger(__name__)

END_STATUS = {"completed": "FINISHED", "failed": "FAILED", "preempted": "KILLED", "interrupted": "KILLED", "discarded": "FAILED"}
ARTIFACT_NAMES = ("train_stats.json",)


class RunTracking:
    """One run's tracking; every method after :meth:`begin` is best-effort (see :class:`MlflowRun`)."""

    def __init__(self, options: TrackingOptions) -> None:
        self.options = options
        self.run = MlflowRun(options)

    @property
    def run_id(self) -> str | None:
        return self.run.run_id

    def begin(self, name: str, base: Mapping[str, Any], variables: Mapping[str, Any], overrides: Mapping[str, Any],
              resolved: Mapping[str, Any], resume_run_id: str | None = None) -> dict[str, Any]:
        """Start (or continue) the MLflow run; what the manifest records about it. Exit 3 when the server is down."""
        resumed = resume_run_id is not None
        run_id = self.run.start(name, base, flat_params(variables, overrides), resume_run_id)
        if not resumed or run_id != resume_run_id:
            self.run.artifact_text("config_resolved.json", json.dumps(resolved, indent=2, sort_keys=True, default=str))
        return {"kind": "mlflow", "uri": self.options.uri, "run_id": run_id, "parent_run_id": self.options.parent_run_id}

    def attach(self, trainer: Any, record: Any, evaluator: Any | None = None) -> None:
        """Per-iteration loss (step: the iteration) and per-epoch loss, learning rate and metrics (step: the epoch)."""
        from ignite.engine import Events

        from runner.workflow.handlers import output_loss

        def on_iteration(engine: Any) -> None:
            loss = output_loss(engine.state.output)
            if loss is not None:
                self.run.metric("loss", loss, engine.state.iteration)

        def on_epoch(engine: Any) -> None:  # after RunRecord's own handler: its lists hold this epoch
            epoch = engine.state.epoch
            if record.epoch_losses and record.epoch_losses[-1] is not None:
                self.run.metric("epoch_loss", record.epoch_losses[-1], epoch)
            if record.epoch_learning_rates and record.epoch_learning_rates[-1] is not None:
                self.run.metric("learning_rate", record.epoch_learning_rates[-1], epoch)
            for name, value in (record.epoch_metrics[-1] if record.epoch_metrics else {}).items():
                self.run.metric(name, value, epoch)
            self.run.flush()

        trainer.add_event_handler(Events.ITERATION_COMPLETED, on_iteration)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, on_epoch)

    def metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        """Evaluation results (``mmar validate``)."""
        for name, value in values.items():
            self.run.metric(name, value, step)

    def ended(self, status: str, manifest: Mapping[str, Any], manifest_path: Path | None, folder: Path) -> None:
        """The session ended as ``status``: final tags, the manifest and stats as artifacts, the MLflow status."""
        if self.run.run_id is None:
            return
        tags = {"mmar.status": status}
        for key in ("weights_digest", "model_digest"):
            if manifest.get(key):
                tags[f"mmar.{key}"] = str(manifest[key])
        key_metric = manifest.get("key_metric") or {}
        if key_metric.get("best") is not None:
            tags["mmar.best_metric"] = f"{key_metric.get('name')}={key_metric['best']} @ epoch {key_metric.get('best_epoch')}"
        if manifest.get("error"):
            tags["mmar.error"] = str(manifest["error"])[:1000]
        self.run.tags(tags)
        if manifest_path is not None and status != "discarded":
            self.run.artifact(manifest_path)
        data_list = (manifest.get("data") or {}).get("list")
        for name in (*ARTIFACT_NAMES, *([data_list] if isinstance(data_list, str) and status != "discarded" else [])):
            self.run.artifact(folder / name)
        self.run.end(END_STATUS.get(status, "FAILED"))
