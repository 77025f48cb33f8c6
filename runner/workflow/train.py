"""``mmar train``: build the trainer from a validated config, run it, write the MMAR outputs.

Order matters and is fixed: process env -> determinism pins -> static check -> build components
(model first, transforms after the MONAI seed is set) -> attach our handlers -> run -> outputs
(final checkpoint, train_stats.json, run_manifest.json), each written atomically.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runner.components.build import Builder
from runner.components.check import check_mmar
from runner.config.load import LoadedConfig
from runner.determinism import (
    DeterminismSettings,
    apply_determinism,
    attach_strict_guard,
    prepare_process_env,
    read_back_flags,
)
from runner.errors import BAD_INPUT_EXIT, ConfigError, ConfigIssue, MmarRunnerError, PreemptedError, RunFailedError, first_line
from runner.jsonio import write_atomic, write_json_atomic
from runner.legacy.clara_code import mmar_code
from runner.manifest import MANIFEST_NAME, file_digests, manifest_base, model_state, spec_of, tensor_digests, weights_digest
from runner.mmar import resolve_in_mmar
from runner.run_spec import RunSpec
from runner.tracking.training import RunTracking
from runner.workflow.checkpoint_fit import require_fitting_checkpoint
from runner.workflow.common import call_user, datalist_digests, is_engine, pick_device, seed_datasets, settings_for
from runner.workflow.diagnose import trace_of
from runner.workflow.distributed import DistContext, barrier_and_destroy, context_from_env, init_process_group, wrap_model
from runner.workflow.handlers import RunRecord
from runner.workflow.resume import ResumeKeeper, checkpoint_interval, sigterm_requests_checkpoint
from runner.workflow.resume_store import RunInputs, find_resume, resume_dir
from runner.workflow.session import RunSession

logger = logging.getLogger(__name__)

FINAL_MODEL = "final_model.pt"
BEST_MODEL = "model.pt"
TRAIN_STATS = "train_stats.json"


@dataclass(frozen=True)
class TrainResult:
    """Where a run's outputs went and what identifies them."""

    ckpt_dir: Path
    manifest_path: Path
    weights_digest: str
    final_model: Path
    best_model: Path | None
    epochs_completed: int | None
    iterations: int | None
    terminated_early: bool
    planned_iterations: int | None = None


def run_training(loaded: LoadedConfig, spec: RunSpec | None = None) -> TrainResult:
    """Train as the config says and write model, stats and manifest under MMAR_CKPT_DIR.

    ``spec`` is the run as the command line described it (its options: progress, ``--fresh``, the
    lock wait, ``--max-iterations``; and the manifest's reproduce command); without one, the loaded
    config is trained quietly, as a Python caller wants. The run lives in a :class:`RunSession` on
    MMAR_CKPT_DIR (lock, manifest states, cleanup); ``fresh`` removes the folder's resume checkpoints.

    Raises:
        ConfigError / ComponentError: bad input, found before anything is kept on disk.
        RunLockedError: another run holds the output folder.
        RunFailedError: training failed; the manifest then says ``status: "failed"``.
        PreemptedError: stopped on SIGTERM after writing a resume checkpoint (exit 75).
    """
    spec = spec or spec_of(loaded, "train")
    command = spec.command
    prepare_process_env()
    resume_every_s = checkpoint_interval()
    warnings = check_mmar(loaded)
    if command == "finetune":
        require_checkpoint_loader(loaded)
    for warning in warnings:
        logger.warning("%s", warning.render())
    if loaded.search_point:
        logger.info("AutoML search space: training the point %s (pick another with --set NAME=VALUE)", loaded.search_point)
    settings = settings_for(loaded)
    context = context_from_env()
    device = init_process_group(context) if context.distributed else pick_device(loaded.model.use_gpu)
    amp = bool(loaded.model.amp and device.type == "cuda")
    if loaded.model.amp and not amp:
        logger.info("amp requested but running on %s: training in float32", device)
    ckpt_dir = loaded.ckpt_dir
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    with RunSession(ckpt_dir, MANIFEST_NAME, command, is_main=context.is_main, lock_wait_s=spec.lock_wait_s) as session, \
            mmar_code(loaded.mmar.root):
        flags = apply_determinism(settings)
        builder = Builder(loaded, device=device, amp=amp, rank=context.rank, world_size=context.world_size)
        trainer = _build_trainer(builder, context)
        if builder.declared("train", "model"):
            require_fitting_checkpoint(loaded, builder.get("train", "model"))  # before the loader's wall of keys
        base = manifest_base(loaded, spec, started_at, flags, amp, device, datalist_digests(builder), warnings, builder.supplied,
                             world_size=context.world_size)
        base["trainer"] = {"class": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
                           "kind": "ignite" if is_engine(trainer) else "bring-your-own"}
        base["world_size"] = context.world_size
        record = RunRecord()
        keeper = _resume_keeper(loaded, builder, trainer, record, base, context.is_main, resume_every_s, spec.fresh)
        if keeper is not None and keeper.resumed_from is not None:
            base["resumed_from"] = str(keeper.resumed_from)
        _prepare(trainer, builder, record, settings, spec.progress, loaded, spec.max_iterations, keeper)
        if context.is_main and spec.tracking.enabled:
            session.tracking = _track(spec, loaded, base, trainer, record, keeper)
        session.start(base)
        try:
            with sigterm_requests_checkpoint(keeper) if keeper else nullcontext():
                network = _run(trainer, builder)
        except MmarRunnerError as exc:
            if exc.exit_code != BAD_INPUT_EXIT and context.is_main:
                session.fail(exc.message, record.summary())
            raise  # bad input (a BYOC contract broken at the first iteration): the session removes what the run wrote
        if keeper is not None and keeper.preempted:
            session.preempt({**record.summary(), "resume_checkpoint": str(keeper.last_saved or "")})
            barrier_and_destroy(context)
            raise PreemptedError(f"stopped on SIGTERM after iteration {record.iterations}; a resume checkpoint is in "
                                 f"{resume_dir(ckpt_dir)}", hint="run the same command again to continue")
        duration = time.perf_counter() - started
        state = model_state(network)
        digest = weights_digest(state)
        final_model = ckpt_dir / FINAL_MODEL
        if context.is_main and not session.wrote(final_model):
            _save_checkpoint({"model": state, "train_conf": loaded.resolved}, final_model)
        best_model = ckpt_dir / BEST_MODEL if session.wrote(ckpt_dir / BEST_MODEL) else None
        if context.is_main:
            write_json_atomic(ckpt_dir / TRAIN_STATS, record.train_stats(duration))
        manifest_path = session.complete({
            "duration_s": round(duration, 3),
            "time_to_first_iteration_s": round(record.first_iteration_at - started, 3) if record.first_iteration_at else None,
            "weights_digest": digest,
            "tensor_digests": tensor_digests(state),
            **record.summary(),
            "determinism": {**flags, "in_force_after_training": read_back_flags()},
            "outputs": {
                "final_model": str(final_model),
                "best_model": str(best_model) if best_model else None,
                "train_stats": str(ckpt_dir / TRAIN_STATS),
            },
        })
        if context.is_main:
            shutil.rmtree(resume_dir(ckpt_dir), ignore_errors=True)  # done: the next run in this folder starts afresh
    barrier_and_destroy(context)
    summary = record.summary()
    return TrainResult(ckpt_dir, manifest_path, digest, final_model, best_model, summary["epochs_completed"],
                       summary["iterations"], bool(summary["ended_early"]), summary["planned_iterations"])


def _resume_keeper(loaded: LoadedConfig, builder: Builder, trainer: Any, record: RunRecord, base: dict[str, Any],
                   is_main: bool, every_s: float, fresh: bool) -> ResumeKeeper | None:
    """The keeper of resume checkpoints (ignite trainers only), with the checkpoint it continues from, if any."""
    if not is_engine(trainer):
        return None
    inputs = RunInputs(base["config_digest"], file_digests(loaded.mmar.custom_dir), dict(base["datalist_digests"]), base["world_size"])
    keeper = ResumeKeeper(loaded.ckpt_dir, builder, trainer, builder.built("validate", "evaluator"), record, inputs, is_main,
                          every_s)
    if fresh:
        if is_main and resume_dir(loaded.ckpt_dir).is_dir():
            logger.info("--fresh: removing the resume checkpoints in %s", resume_dir(loaded.ckpt_dir))
            shutil.rmtree(resume_dir(loaded.ckpt_dir))
        return keeper
    model_keys = set(model_state(trainer.network)) if getattr(trainer, "network", None) is not None else set()
    keeper.found = find_resume(loaded.ckpt_dir, inputs, model_keys, loaded.mmar.config_name)
    return keeper


def _track(spec: RunSpec, loaded: LoadedConfig, base: dict[str, Any], trainer: Any, record: RunRecord,
           keeper: ResumeKeeper | None) -> RunTracking:
    """Start the run's MLflow run (a resumed run continues its own) before the manifest says running; exit 3 if unreachable."""
    tracking = RunTracking(spec.tracking)
    resume_run_id = keeper.found.payload.get("tracking_run_id") if keeper is not None and keeper.found is not None else None
    base["tracking"] = tracking.begin(loaded.mmar.root.name, base, loaded.variables, loaded.overrides, loaded.resolved,
                                      resume_run_id if isinstance(resume_run_id, str) else None)
    if keeper is not None:
        keeper.tracking_run_id = tracking.run_id
    if is_engine(trainer):
        tracking.attach(trainer, record)
    return tracking


def require_checkpoint_loader(loaded: LoadedConfig) -> None:
    """Fine-tuning means an enabled CheckpointLoader in train.handlers whose checkpoint exists."""
    handlers = [(i, h) for i, h in enumerate(loaded.model.train.handlers) if h.label == "CheckpointLoader" and not h.disabled]
    if not handlers:
        raise ConfigError([ConfigIssue(loaded.file, "train.handlers", "finetune needs an enabled CheckpointLoader, and there is none",
                                       hint='add {"name": "CheckpointLoader", "disabled": "{dont_load_ckpt_model}", '
                                            '"args": {"load_path": "{MMAR_CKPT}", "load_dict": {"model": "@model"}}}')])
    index, handler = handlers[0]
    load_path = handler.args.get("load_path")
    if isinstance(load_path, str) and not resolve_in_mmar(loaded.mmar.root, load_path).is_file():
        raise ConfigError([ConfigIssue(loaded.file, f"train.handlers[{index}].args.load_path", f"checkpoint {load_path} not found",
                                       hint="train first, or --set MMAR_CKPT=path/to/model.pt")])


def _build_trainer(builder: Builder, context: DistContext | None = None) -> Any:
    """Build in canonical order (MMAR_SPEC §2.6): the model comes first, from the freshly seeded RNG,
    whatever order the trainer's arguments list things in; then the trainer and what it needs.
    Under torchrun the model is wrapped in DDP before anything refers to it."""
    for slot in ("model", "loss", "optimizer", "lr_scheduler"):
        if builder.declared("train", slot):
            built = builder.get("train", slot)
            if slot == "model" and context is not None and context.distributed:
                builder.replace("train", "model", wrap_model(built, context))
    trainer = builder.get("train", "trainer")
    seed_datasets(builder, builder.loaded.seed)
    return trainer


def _prepare(trainer: Any, builder: Builder, record: RunRecord, settings: DeterminismSettings, show_progress: bool,
             loaded: LoadedConfig, max_iterations: int | None, keeper: ResumeKeeper | None) -> None:
    """Attach the runner's handlers to an ignite trainer and restore the resume checkpoint, before the run begins.

    A restore that fails here fails before the session starts: the folder (a preempted manifest and
    its checkpoints included) stays as it was.
    """
    if not is_engine(trainer):
        return
    record.attach(trainer, builder.built("validate", "evaluator"), loaded.model.epochs, show_progress, max_iterations)
    attach_strict_guard(trainer, settings)
    if keeper is not None:
        keeper.attach()
        if keeper.found is not None:
            try:
                keeper.restore(keeper.found)
            except Exception as exc:  # noqa: BLE001 - a state that does not fit: say which file, keep everything
                raise RunFailedError(f"resuming from {keeper.found.path} failed: {type(exc).__name__}: {first_line(exc)}",
                                     hint="mmar train --fresh starts from the beginning") from exc


def _run(trainer: Any, builder: Builder) -> Any:
    """Run an ignite engine, or a bring-your-own trainer, and return the trained network."""
    if is_engine(trainer):
        call_user(trainer.run, trace_of(builder.loaded))
        network = getattr(trainer, "network", None)
        return network if network is not None else builder.get("train", "model")
    runner = getattr(trainer, "run", None) or getattr(trainer, "train", None) or trainer
    if not callable(runner):
        raise RunFailedError(f"{type(trainer).__name__} has no run() or train() method and is not callable")
    call_user(runner, trace_of(builder.loaded))
    network = getattr(trainer, "network", None)
    if network is None:
        network = getattr(trainer, "model", None)
    if network is None and builder.declared("train", "model"):
        network = builder.get("train", "model")
    if network is None:
        raise RunFailedError(f"{type(trainer).__name__} exposes no .network or .model to digest")
    return network


def _save_checkpoint(obj: Any, path: Path) -> None:
    import torch

    write_atomic(path, lambda tmp: torch.save(obj, tmp))


