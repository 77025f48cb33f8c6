"""``mmar show RUN``: a finished run's summary, and a PNG of its loss, metric and learning-rate curves.

Everything comes from what the run left in its output folder: ``run_manifest.json`` (the summary)
and ``train_stats.json`` (the per-epoch curves), read as data. A run without train_stats.json (an
evaluation, or a training that failed or was preempted) still gets its summary; it has no curves.
matplotlib is an optional extra (``mmar-runner[show]``), imported only to draw, with the Agg
canvas (no display, no pyplot state).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import HostError, MmarLayoutError
from runner.jsonio import load_json, write_atomic
from runner.manifest import MANIFEST_NAME, TRAIN_STATS_NAME

logger = logging.getLogger(__name__)

SHOW_EXTRA_HINT = "pip install 'mmar-runner[show]'"


@dataclass(frozen=True)
class RunView:
    """One run as its output folder holds it: the manifest, and the training stats when there are any."""

    manifest_path: Path
    manifest: Mapping[str, Any]
    stats_path: Path  # where train_stats.json is, or was looked for
    stats: Mapping[str, Any] | None  # None: not there, or not this run's (see no_curves_reason)

    @property
    def folder(self) -> Path:
        return self.manifest_path.parent


def load_run(target: Path) -> RunView:
    """The run at ``target``: an output folder holding run_manifest.json, an MMAR root (its models/), or a manifest file.

    Raises:
        MmarLayoutError: no manifest there, or a file that is not one (exit 2).
    """
    from runner.workflow.verify import load_manifest

    if target.is_dir() and not (target / MANIFEST_NAME).is_file() and (target / "models" / MANIFEST_NAME).is_file():
        target = target / "models"  # an MMAR root whose MMAR_CKPT_DIR is the default
    if target.is_dir() and not (target / MANIFEST_NAME).is_file():
        raise MmarLayoutError(f"{target}: no {MANIFEST_NAME} in this folder",
                              hint="give the run's output folder (MMAR_CKPT_DIR; the MMAR's models/ by default) or its manifest file")
    manifest_path = target / MANIFEST_NAME if target.is_dir() else target
    manifest = load_manifest(manifest_path)
    stats_path = manifest_path.parent / TRAIN_STATS_NAME  # beside it: the recorded path may hold a later run's by now
    stats = None
    if stats_path.is_file() and wrote_stats(manifest):
        stats = load_json(stats_path, str(stats_path))
        if not isinstance(stats, dict):
            raise MmarLayoutError(f"{stats_path}: expected a JSON object (train_stats.json as mmar train writes it)")
        if stats.get("epochs_completed") != manifest.get("epochs_completed"):
            stats = None  # a later run's, or an earlier one's: not the curves of this manifest
    return RunView(manifest_path, manifest, stats_path, stats)


def wrote_stats(manifest: Mapping[str, Any]) -> bool:
    """Whether the run of this manifest wrote train_stats.json: a completed training does, nothing else.

    A failed run in a folder keeps the previous run's stats beside its manifest; they are not its curves.
    """
    outputs = manifest.get("outputs")
    return manifest.get("status") == "completed" and isinstance(outputs, Mapping) and bool(outputs.get("train_stats"))


def render_summary(view: RunView) -> list[str]:
    """The run in a dozen lines: what ran, how it ended, its outcome, and how to repeat it (its --set values too)."""
    m = view.manifest
    lines = [f"run:           {view.folder} ({m.get('command', '?')}, {m.get('status', '?')})",
             f"mmar:          {m.get('mmar_root', '?')} ({Path(str(m.get('config_file') or '?')).name})",
             f"started:       {m.get('started_at', '?')}" + (f", took {m['duration_s']:.1f} s" if _is_number(m.get("duration_s")) else "")]
    if m.get("epochs_completed") is not None:
        planned = f" of {m['planned_iterations']}" if m.get("planned_iterations") else ""
        lines.append(f"epochs:        {m['epochs_completed']}, iterations: {m.get('iterations')}{planned}"
                     + (" (ended early)" if m.get("ended_early") else ""))
    metric = m.get("key_metric") if isinstance(m.get("key_metric"), Mapping) else {}
    if metric.get("best") is not None:
        lines.append(f"best:          {metric.get('name') or 'key metric'} {_number(metric['best'])} @ epoch {metric.get('best_epoch')}")
    if _is_number(m.get("final_loss")):
        lines.append(f"final loss:    {_number(m['final_loss'])}")
    if isinstance(m.get("metrics"), Mapping) and m["metrics"]:  # mmar validate's results
        lines.append(f"metrics:       {', '.join(f'{name} {_number(value)}' for name, value in m['metrics'].items())}")
    rates = [r for r in (view.stats or {}).get("learning_rate_per_epoch") or [] if _is_number(r)]
    if rates:
        lines.append(f"learning rate: {rates[0]:.3g}" + (f" -> {rates[-1]:.3g}" if rates[-1] != rates[0] else ""))
    if m.get("error"):
        lines.append(f"error:         {m['error']}")
    lines += [f"seed:          {m.get('seed')}",
              f"weights:       {m.get('weights_digest') or 'n/a'}",
              f"versions:      {_versions(m.get('versions'))}",
              f"device:        {_device(m.get('device'))}"]
    if m.get("reproduce"):
        lines.append(f"reproduce:     {m['reproduce']}")
    return lines


def no_curves_reason(view: RunView) -> str | None:
    """Why this run has no curves to draw, or None when it has."""
    if view.stats is None:
        found = "is not this run's" if view.stats_path.is_file() else "not found"
        return (f"{view.stats_path} {found}: it is written when a training run completes (an evaluation, or a training that "
                f"failed or was preempted, has none)")
    if not any(_is_number(v) for v in view.stats.get("train_loss_per_epoch") or []) and not _metric_series(view.stats):
        return f"{view.stats_path} holds no per-epoch loss or metric (a bring-your-own trainer runs its own loop)"
    return None


def write_curves(view: RunView, png: Path) -> Path:
    """Draw loss, validation metrics and learning rate per epoch into ``png`` (written atomically).

    Raises:
        HostError: matplotlib is not installed (exit 3); the summary does not need it.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise HostError("the curves need matplotlib, which is not installed", hint=SHOW_EXTRA_HINT) from None
    stats = view.stats or {}
    panels = [("training loss (epoch mean)", {"loss": _series(stats.get("train_loss_per_epoch"))}),
              ("validation", _metric_series(stats)),
              ("learning rate", {"learning rate": _series(stats.get("learning_rate_per_epoch"))})]
    panels = [(title, series) for title, series in panels if any(points for points in series.values())]
    figure = Figure(figsize=(4.2 * len(panels), 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    m = view.manifest
    figure.suptitle(f"{Path(str(m.get('mmar_root') or view.folder)).name}: {m.get('command', 'train')}, {m.get('status', '?')}, "
                    f"{stats.get('epochs_completed', '?')} epochs, {str(m.get('weights_digest') or '')[:19]}", fontsize=10)
    for index, (title, series) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        for name, points in series.items():
            if points:
                axes.plot([e for e, _ in points], [v for _, v in points], marker="o", markersize=3, label=name)
        if title == "validation":
            _mark_best(axes, stats)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title == "learning rate":
            axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    write_atomic(png, lambda tmp: figure.savefig(tmp, format="png"))
    return png


def _mark_best(axes: Any, stats: Mapping[str, Any]) -> None:
    best, epoch = stats.get("best_validation_metric"), stats.get("best_validation_epoch")
    if _is_number(best) and isinstance(epoch, int):
        axes.plot([epoch], [best], marker="*", markersize=12, linestyle="none", color="gold", markeredgecolor="black",
                  label=f"best {stats.get('key_metric_name') or ''} {best:.4f} @ {epoch}".replace("  ", " "))


def _series(values: Any) -> list[tuple[int, float]]:
    """(epoch, value) for every epoch with a number (epochs count from 1; null epochs are left out)."""
    if not isinstance(values, Sequence):
        return []
    return [(epoch, float(value)) for epoch, value in enumerate(values, start=1) if _is_number(value)]


def _metric_series(stats: Mapping[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """Each validation metric's (epoch, value): only epochs that validated have one."""
    found: dict[str, list[tuple[int, float]]] = {}
    for epoch, metrics in enumerate(stats.get("validation_metrics_per_epoch") or [], start=1):
        for name, value in (metrics.items() if isinstance(metrics, Mapping) else ()):
            if _is_number(value):
                found.setdefault(str(name), []).append((epoch, float(value)))
    return found


def look_command(ckpt_dir: Path, tensorboard_logdir: Path | None) -> str:
    """How to look at a finished run: its summary and curves, and TensorBoard where the run wrote event files."""
    show = f"mmar show {shlex.quote(str(ckpt_dir))}"
    return f"{show}   or   tensorboard --logdir {shlex.quote(str(tensorboard_logdir))}" if tensorboard_logdir else show


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # NaN is not a point


def _number(value: Any) -> str:
    return f"{value:.4f}" if _is_number(value) else "n/a"


def _versions(versions: Any) -> str:
    if not isinstance(versions, Mapping):
        return "not recorded"
    return ", ".join(f"{name} {versions[name]}" for name in ("mmar-runner", "torch", "monai", "pytorch-ignite", "python")
                     if versions.get(name))


def _device(device: Any) -> str:
    if not isinstance(device, Mapping):
        return "not recorded"
    parts = [str(device.get("device") or "?")]
    if device.get("gpu_name"):
        parts.append(f"{device['gpu_name']} x{device.get('gpu_count')}")
    parts.append(f"{device.get('torch_num_threads')} threads, {device.get('machine') or '?'}")
    return ", ".join(parts)
