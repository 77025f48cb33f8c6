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
from runner.errors import BAD_INPUT_EXIT, ConfigError, ConfigIssue, MmarRunnerError, RunFailedError
from runner.jsonio import write_atomic, write_json_atomic
from runner.legacy.clara_code import mmar_code
from runner.manifest import manifest_base, model_state, tensor_digests, weights_digest, write_manifest
from runner.mmar import resolve_in_mmar
from runner.workflow.common import (
    Signature,
    call_user,
    datalist_digests,
    existing_files,
    file_signature,
    is_engine,
    pick_device,
    remove_new_files,
    seed_datasets,
    settings_for,
)
from runner.workflow.distributed import DistContext, barrier_and_destroy, context_from_env, init_process_group, wrap_model
from runner.workflow.handlers import RunRecord
from runner.workflow.resume import (
    Found,
    PreemptedError,
    ResumeKeeper,
    checkpoint_interval,
    find_newest,
    resume_dir,
    sigterm_requests_checkpoint,
)

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


def run_training(loaded: LoadedConfig, command: str = "train", show_progress: bool = True,
                 max_iterations: int | None = None) -> TrainResult:
    """Train as the config says and write model, stats and manifest under MMAR_CKPT_DIR.

    Raises:
        ConfigError / ComponentError: bad input, found before anything is kept on disk.
        RunFailedError: training failed; the manifest then says ``status: "failed"``.
    """
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
    files_before = existing_files(ckpt_dir)
    outputs_before = _signatures(ckpt_dir)
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    with mmar_code(loaded.mmar.root):
        flags = apply_determinism(settings)
        builder = Builder(loaded, device=device, amp=amp, rank=context.rank, world_size=context.world_size)
        try:
            trainer = _build_trainer(builder, context)
        except MmarRunnerError:
            if context.is_main:
                remove_new_files(ckpt_dir, files_before)
            raise
        base = manifest_base(loaded, command, started_at, flags, amp, device, datalist_digests(builder), warnings, builder.supplied)
        base["trainer"] = {"class": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
                           "kind": "ignite" if is_engine(trainer) else "bring-your-own"}
        base["world_size"] = context.world_size
        if context.is_main:
            write_manifest(ckpt_dir, {**base, "status": "running"})
        record = RunRecord()
        keeper = ResumeKeeper(ckpt_dir, builder, trainer, builder.built("validate", "evaluator"), record,
                              base["config_digest"], context.is_main, resume_every_s) if is_engine(trainer) else None
        resumed = find_newest(ckpt_dir, base["config_digest"], loaded.file) if keeper else None
        if resumed:
            base["resumed_from"] = str(resumed.path)
        try:
            with sigterm_requests_checkpoint(keeper) if keeper else nullcontext():
                network = _run(trainer, builder, record, settings, show_progress, loaded, max_iterations, keeper, resumed)
        except MmarRunnerError as exc:
            if not context.is_main:
                raise
            if exc.exit_code == BAD_INPUT_EXIT:
                # A BYOC contract broken at run time (an iteration without a loss...): bad input,
                # found at the first iteration, so nothing this run wrote is worth keeping.
                remove_new_files(ckpt_dir, files_before)
            else:
                write_manifest(ckpt_dir, {**base, "status": "failed", "error": exc.message, **record.summary()})
            raise
        if keeper is not None and keeper.preempted:
            if context.is_main:
                write_manifest(ckpt_dir, {**base, "status": "preempted", **record.summary(),
                                          "resume_checkpoint": str(max(resume_dir(ckpt_dir).glob("ckpt-*.pt"), default=""))})
            barrier_and_destroy(context)
            raise PreemptedError(f"stopped on SIGTERM after iteration {record.iterations}; a resume checkpoint is in "
                                 f"{resume_dir(ckpt_dir)}", hint="run the same command again to continue")
    duration = time.perf_counter() - started
    state = model_state(network)
    digest = weights_digest(state)
    final_model = ckpt_dir / FINAL_MODEL
    if context.is_main and not _written_by_run(final_model, outputs_before):
        _save_checkpoint({"model": state, "train_conf": loaded.resolved}, final_model)
    best_model = ckpt_dir / BEST_MODEL if _written_by_run(ckpt_dir / BEST_MODEL, outputs_before) else None
    if context.is_main:
        write_json_atomic(ckpt_dir / TRAIN_STATS, record.train_stats(duration))
    manifest = {
        **base,
        "status": "completed",
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
    }
    manifest_path = write_manifest(ckpt_dir, manifest) if context.is_main else ckpt_dir / "run_manifest.json"
    if context.is_main:
        shutil.rmtree(resume_dir(ckpt_dir), ignore_errors=True)  # done: the next run in this folder starts afresh
    barrier_and_destroy(context)
    summary = record.summary()
    return TrainResult(ckpt_dir, manifest_path, digest, final_model, best_model, summary["epochs_completed"],
                       summary["iterations"], bool(summary["ended_early"]), summary["planned_iterations"])


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


def _run(trainer: Any, builder: Builder, record: RunRecord, settings: DeterminismSettings, show_progress: bool,
         loaded: LoadedConfig, max_iterations: int | None = None, keeper: ResumeKeeper | None = None,
         resumed: Found | None = None) -> Any:
    """Run an ignite engine, or a bring-your-own trainer, and return the trained network."""
    if is_engine(trainer):
        evaluator = builder.built("validate", "evaluator")
        record.attach(trainer, evaluator, loaded.model.epochs, show_progress, max_iterations)
        attach_strict_guard(trainer, settings)
        if keeper is not None:
            keeper.attach()
            if resumed is not None:
                keeper.restore(resumed)
        call_user(trainer.run)
        network = getattr(trainer, "network", None)
        return network if network is not None else builder.get("train", "model")
    runner = getattr(trainer, "run", None) or getattr(trainer, "train", None) or trainer
    if not callable(runner):
        raise RunFailedError(f"{type(trainer).__name__} has no run() or train() method and is not callable")
    call_user(runner)
    network = getattr(trainer, "network", None)
    if network is None:
        network = getattr(trainer, "model", None)
    if network is None and builder.declared("train", "model"):
        network = builder.get("train", "model")
    if network is None:
        raise RunFailedError(f"{type(trainer).__name__} exposes no .network or .model to digest")
    return network


def _signatures(folder: Path) -> dict[str, Signature]:
    """Signatures of the model files before the run, to tell which ones the run wrote."""
    return {name: file_signature(folder / name) for name in (FINAL_MODEL, BEST_MODEL) if (folder / name).is_file()}


def _written_by_run(path: Path, before: dict[str, Signature]) -> bool:
    return path.is_file() and before.get(path.name) != file_signature(path)


def _save_checkpoint(obj: Any, path: Path) -> None:
    import torch

    write_atomic(path, lambda tmp: torch.save(obj, tmp))


