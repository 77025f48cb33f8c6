"""``mmar train``: build the trainer from a validated config, run it, write the MMAR outputs.

Order matters and is fixed: process env -> determinism pins -> static check -> build components
(model first, transforms after the MONAI seed is set) -> attach our handlers -> run -> outputs
(final checkpoint, train_stats.json, run_manifest.json with data_files.json beside it), each written atomically.
The data files are hashed right after the builder exists, before any dataset loads them.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from runner.components.build import Builder
from runner.components.check import check_mmar
from runner.config.load import LoadedConfig
from runner.config.report import render_warnings
from runner.data.content_digest import DATA_FILES_NAME, DataDigest
from runner.determinism import (
    DeterminismSettings,
    apply_determinism,
    attach_strict_guard,
    prepare_process_env,
    read_back_flags,
)
from runner.errors import (
    BAD_INPUT_EXIT,
    ConfigError,
    ConfigIssue,
    MmarRunnerError,
    PreemptedError,
    RunFailedError,
    RunInterruptedError,
    first_line,
)
from runner.jsonio import write_atomic, write_json_atomic
from runner.legacy.clara_code import mmar_code
from runner.manifest import (
    MANIFEST_NAME,
    TRAIN_STATS_NAME,
    file_digest,
    file_digests,
    manifest_base,
    model_state,
    spec_of,
    tensor_digests,
    weights_digest,
)
from runner.mmar import resolve_in_mmar
from runner.run_spec import RunSpec
from runner.tracking.training import RunTracking
from runner.workflow.checkpoint_fit import require_fitting_checkpoint
from runner.workflow.common import (
    call_user,
    datalist_digests,
    is_engine,
    note_worker_count,
    pick_device,
    seed_datasets,
    settings_for,
)
from runner.workflow.data_record import data_root, digest_run_data, manifest_record, shared_from_main
from runner.workflow.diagnose import trace_of
from runner.workflow.distributed import DistContext, barrier_and_destroy, context_from_env, init_process_group, wrap_model
from runner.workflow.handlers import RunRecord
from runner.workflow.provenance import checkpoint_origin, report_checkpoint
from runner.workflow.resume import ResumeKeeper, checkpoint_interval, signals_request_checkpoint
from runner.workflow.resume_store import RunInputs, find_resume, refuse_finished, resume_dir
from runner.workflow.session import RunSession

logger = logging.getLogger(__name__)

FINAL_MODEL = "final_model.pt"
BEST_MODEL = "model.pt"
TRAIN_STATS = TRAIN_STATS_NAME
TENSORBOARD_EVENTS = "events.out.tfevents."  # how every TensorBoard event file's name begins
MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".ts")


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
    tensorboard_logdir: Path | None = None  # where this run wrote TensorBoard event files (its handlers' log_dir)


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
        RunInterruptedError: stopped on Ctrl-C (SIGINT), after writing one when the step could finish (exit 130).
    """
    spec = spec or spec_of(loaded, "train")
    command = spec.command
    prepare_process_env()
    resume_every_s = checkpoint_interval()
    warnings = check_mmar(loaded)
    finetuned_from = require_checkpoint_loader(loaded) if command == "finetune" else None
    for line in render_warnings(warnings):
        logger.warning("%s", line)
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
        data = shared_from_main(lambda: digest_run_data(builder, spec.data_cache, spec.progress), context.is_main,
                                context.distributed)  # before the datasets load: a missing file is exit 2 at once
        trainer = _build_trainer(builder, context)
        note_worker_count(builder, context.is_main)
        if builder.declared("train", "model"):
            require_fitting_checkpoint(loaded, builder.get("train", "model"))  # before the loader's wall of keys
        base = manifest_base(loaded, spec, started_at, flags, amp, device, datalist_digests(builder), warnings, builder.supplied,
                             world_size=context.world_size, data=manifest_record(data, DATA_FILES_NAME, data_root(loaded.variables)))
        base["trainer"] = {"class": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
                           "kind": "ignite" if is_engine(trainer) else "bring-your-own"}
        base["world_size"] = context.world_size
        if finetuned_from is not None and context.is_main:
            base["finetuned_from"] = report_checkpoint(finetuned_from)
        record = RunRecord()
        keeper = _resume_keeper(loaded, builder, trainer, record, base, data, context.is_main, resume_every_s, spec.fresh)
        if keeper is not None and keeper.resumed_from is not None:
            base["resumed_from"] = str(keeper.resumed_from)
        _prepare(trainer, builder, record, settings, spec.progress, loaded, spec.max_iterations, keeper)
        if context.is_main and spec.tracking.enabled:
            session.tracking = _track(spec, loaded, base, trainer, record, keeper)
        session.start(base, beside={DATA_FILES_NAME: data.to_json()})
        try:
            with signals_request_checkpoint(keeper, escalate=not context.distributed) if keeper else nullcontext():
                network = _run(trainer, builder)
        except MmarRunnerError as exc:
            if exc.exit_code != BAD_INPUT_EXIT and context.is_main:
                close_event_writers(builder)  # what they hold reaches the files before the empty ones are removed
                session.fail(exc.message, record.summary())
            raise  # bad input (a BYOC contract broken at the first iteration): the session removes what the run wrote
        except KeyboardInterrupt:
            stop_interrupted(session, record)
        if keeper is not None and keeper.preempted:
            stop_on_signal(session, keeper, record, context)
        finished = finish_training(session, network, record, started, flags, context.is_main, {"train_conf": loaded.resolved})
        if context.is_main:
            shutil.rmtree(resume_dir(ckpt_dir), ignore_errors=True)  # done: the next run in this folder starts afresh
    barrier_and_destroy(context)
    return finished.result(record)


@dataclass(frozen=True)
class Finished:
    """What :func:`finish_training` wrote: the parts of a :class:`TrainResult` known once training ended."""

    ckpt_dir: Path
    manifest_path: Path
    weights_digest: str
    final_model: Path
    best_model: Path | None
    tensorboard_logdir: Path | None

    def result(self, record: RunRecord) -> TrainResult:
        summary = record.summary()
        return TrainResult(self.ckpt_dir, self.manifest_path, self.weights_digest, self.final_model, self.best_model,
                           summary["epochs_completed"], summary["iterations"], bool(summary["ended_early"]),
                           summary["planned_iterations"], self.tensorboard_logdir)


def finish_training(session: RunSession, network: Any, record: RunRecord, started: float, determinism: dict[str, Any],
                    is_main: bool, final_extra: dict[str, Any] | None = None) -> Finished:
    """The end of every training run, MMAR or bundle: final model, train_stats.json, the completed manifest.

    ``final_extra`` goes into ``final_model.pt`` beside the weights (an MMAR's resolved config as
    ``train_conf``, as Clara wrote it). Only the main process writes; every process gets the digest.
    """
    ckpt_dir = session.folder
    duration = time.perf_counter() - started
    state = model_state(network)
    digest = weights_digest(state)
    final_model = ckpt_dir / FINAL_MODEL
    if is_main and not session.wrote(final_model):
        save_checkpoint({"model": state, **(final_extra or {})}, final_model)
    best_model = best_model_of(session, ckpt_dir, is_main)
    if is_main:
        write_json_atomic(ckpt_dir / TRAIN_STATS, record.train_stats(duration))
    logdir = tensorboard_logdir(ckpt_dir, session.wrote) if is_main else None
    manifest_path = session.complete({
        "duration_s": round(duration, 3),
        "time_to_first_iteration_s": round(record.first_iteration_at - started, 3) if record.first_iteration_at else None,
        "weights_digest": digest,
        "tensor_digests": tensor_digests(state),
        **record.summary(),
        "determinism": {**determinism, "in_force_after_training": read_back_flags()},
        "outputs": {"final_model": str(final_model), "best_model": str(best_model) if best_model else None,
                    "train_stats": str(ckpt_dir / TRAIN_STATS)},
        "output_digests": output_digests(session, ckpt_dir) if is_main else {},
    })
    return Finished(ckpt_dir, manifest_path, digest, final_model, best_model, logdir)


def tensorboard_logdir(ckpt_dir: Path, wrote: Callable[[Path], bool]) -> Path | None:
    """The folder to give ``tensorboard --logdir``: MMAR_CKPT_DIR when this run wrote event files under it."""
    if not ckpt_dir.is_dir():
        return None
    return ckpt_dir if any(wrote(path) for path in ckpt_dir.rglob(f"{TENSORBOARD_EVENTS}*")) else None


def stop_interrupted(session: RunSession, record: RunRecord) -> NoReturn:
    """A second Ctrl-C before any resume checkpoint: the manifest says interrupted, the user is told to start over."""
    session.stop("interrupted", {**record.summary(), "resume_checkpoint": None})
    raise RunInterruptedError(f"interrupted (Ctrl-C) after iteration {record.iterations}, before a resume checkpoint "
                              "was written", hint="run the same command again to start over") from None


def stop_on_signal(session: RunSession, keeper: ResumeKeeper, record: RunRecord, context: DistContext) -> None:
    """End a run a signal stopped after its resume checkpoint: manifest ``preempted`` (SIGTERM) or ``interrupted`` (Ctrl-C)."""
    interrupted = keeper.stop_signal == "SIGINT"
    session.stop("interrupted" if interrupted else "preempted",
                 {**record.summary(), "resume_checkpoint": str(keeper.last_saved or "")})
    barrier_and_destroy(context)
    where = f"after iteration {record.iterations}; a resume checkpoint is in {keeper.folder}"
    hint = "run the same command again to continue (--fresh starts over)"
    if interrupted:
        raise RunInterruptedError(f"interrupted (Ctrl-C) {where}", hint=hint)
    raise PreemptedError(f"stopped on SIGTERM {where}", hint=hint)


def _resume_keeper(loaded: LoadedConfig, builder: Builder, trainer: Any, record: RunRecord, base: dict[str, Any],
                   data: DataDigest, is_main: bool, every_s: float, fresh: bool) -> ResumeKeeper | None:
    """The keeper of resume checkpoints (ignite trainers only), with the checkpoint it continues from, if any."""
    if not is_engine(trainer):
        return None
    inputs = RunInputs(base["config_digest"], file_digests(loaded.mmar.custom_dir), dict(base["datalist_digests"]), base["world_size"],
                       data)
    keeper = ResumeKeeper(loaded.ckpt_dir, builder, trainer, builder.built("validate", "evaluator"), record, inputs, is_main,
                          every_s)
    if fresh:
        if is_main and resume_dir(loaded.ckpt_dir).is_dir():
            logger.info("--fresh: removing the resume checkpoints in %s", resume_dir(loaded.ckpt_dir))
            shutil.rmtree(resume_dir(loaded.ckpt_dir))
        return keeper
    model_keys = set(model_state(trainer.network)) if getattr(trainer, "network", None) is not None else set()
    keeper.found = find_resume(loaded.ckpt_dir, inputs, model_keys, loaded.mmar.config_name)
    if keeper.found is not None:
        refuse_finished(keeper.found, getattr(trainer.state, "max_epochs", None))
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


def close_event_writers(builder: Builder) -> None:
    """Close the config's TensorBoard handlers' writers (MONAI's ``close()``): their files are complete on disk."""
    for section in ("train", "validate"):
        for handler in builder.built(section, "handlers") or []:
            close = getattr(handler, "close", None)
            if callable(close) and type(handler).__name__.startswith("TensorBoard"):
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 - the run failed already; this must not hide why
                    logger.debug("closing %s: %s", type(handler).__name__, first_line(exc))


def best_model_of(session: RunSession, ckpt_dir: Path, is_main: bool) -> Path | None:
    """model.pt when this run wrote it; one left by an earlier run is not this run's best, and is said to be so."""
    path = ckpt_dir / BEST_MODEL
    if session.wrote(path):
        return path
    if is_main and path.is_file():
        logger.warning("%s is not this run's: no key-metric checkpoint was saved, and the file is an earlier run's (%s)",
                       path, checkpoint_origin(path).render())
    return None


def output_digests(session: RunSession, ckpt_dir: Path) -> dict[str, str]:
    """sha256 of each model file this run wrote, by path: how a later command tells which run wrote a checkpoint."""
    return {str(path): file_digest(path) for path in session.written() if path.suffix in MODEL_SUFFIXES
            and ckpt_dir / "resume" not in path.parents}


def require_checkpoint_loader(loaded: LoadedConfig) -> Path:
    """Fine-tuning means an enabled CheckpointLoader in train.handlers whose checkpoint exists; returns that file."""
    handlers = [(i, h) for i, h in enumerate(loaded.model.train.handlers) if h.label == "CheckpointLoader" and not h.disabled]
    if not handlers:
        raise ConfigError([ConfigIssue(loaded.file, "train.handlers", "finetune needs an enabled CheckpointLoader, and there is none",
                                       hint='add {"name": "CheckpointLoader", "disabled": "{dont_load_ckpt_model}", '
                                            '"args": {"load_path": "{MMAR_CKPT}", "load_dict": {"model": "@model"}}}')])
    index, handler = handlers[0]
    load_path = handler.args.get("load_path")
    path = resolve_in_mmar(loaded.mmar.root, load_path) if isinstance(load_path, str) else None
    if path is None or not path.is_file():
        raise ConfigError([ConfigIssue(loaded.file, f"train.handlers[{index}].args.load_path", f"checkpoint {load_path} not found",
                                       hint="train first, or --set MMAR_CKPT=path/to/model.pt")])
    return path


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
    optimizer = getattr(trainer, "optimizer", None)
    record.attach(trainer, builder.built("validate", "evaluator"), loaded.model.epochs, show_progress, max_iterations,
                  optimizer if optimizer is not None else builder.built("train", "optimizer"))
    attach_strict_guard(trainer, settings)
    if keeper is not None:
        keeper.attach_and_resume()


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


def save_checkpoint(obj: Any, path: Path) -> None:
    import torch

    write_atomic(path, lambda tmp: torch.save(obj, tmp))


