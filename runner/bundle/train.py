"""``mmar train BUNDLE``: a MONAI bundle's training, run by MONAI's own ``ConfigWorkflow``, inside a run session.

MONAI parses, resolves and runs the bundle exactly as ``python -m monai.bundle run`` would; what
the runner adds is around it, in a fixed order:

1. the static check (``mmar check``; nothing of the bundle runs), with the ``--set`` overrides;
2. every RNG and determinism flag pinned with the bundle's own seed (its ``set_determinism``
   literal), before MONAI parses anything;
3. the bundle's ``initialize``; whatever it changes (``cudnn.benchmark`` on, deterministic
   algorithms off) is honoured and read back, and the manifest then says the run is not bitwise
   reproducible;
4. the data files the datasets will load hashed, before any dataset loads them;
5. ``train#trainer`` resolved (the network from the freshly seeded RNG, as MONAI orders it), then
   the data RNGs pinned (:func:`runner.bundle.objects.pin_data_rngs`) and the runner's handlers
   attached: run record, strict-determinism guard, resume checkpoints on SIGTERM;
6. the bundle's ``run`` and ``finalize``; then ``final_model.pt``, ``train_stats.json`` and the run
   manifest in the bundle's ``ckpt_dir``, each written atomically.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runner.bundle.check import check_bundle
from runner.bundle.code import bundle_code
from runner.bundle.layout import BUNDLE_METADATA, CKPT_DIR_ID, NO_ENVIRONMENT, OUTPUT_DIR_ID
from runner.bundle.legacy import rewrite_legacy_arguments
from runner.bundle.load import BundleConfig
from runner.bundle.objects import TRAINER_ID, BundleObjects, pin_data_rngs
from runner.bundle.overrides import BundleOverride, parse_overrides
from runner.bundle.seed import BundleSeed, bundle_seed
from runner.data.content_digest import DATA_FILES_NAME, DataDigest
from runner.determinism import DeterminismSettings, apply_determinism, attach_strict_guard, prepare_process_env, read_back_flags
from runner.errors import BAD_INPUT_EXIT, ConfigError, ConfigIssue, MmarRunnerError, RunFailedError
from runner.manifest import (
    MANIFEST_NAME,
    config_digest,
    device_fingerprint,
    file_digests,
    folder_digest,
    invocation,
    json_data,
    library_versions,
    model_state,
)
from runner.run_spec import NodeLayout, RunSpec, mmar_argv
from runner.tracking.options import TrackingOptions
from runner.workflow.common import call_user, is_engine
from runner.workflow.data_record import shared_from_main
from runner.workflow.distributed import barrier_and_destroy, context_from_env, init_process_group
from runner.workflow.handlers import RunRecord
from runner.workflow.resume import ResumeKeeper, checkpoint_interval, signals_request_checkpoint
from runner.workflow.resume_store import RunInputs, find_resume, refuse_finished, resume_dir
from runner.workflow.session import RunSession
from runner.workflow.train import TrainResult, finish_training, stop_interrupted, stop_on_signal

logger = logging.getLogger(__name__)

RUN_IDS = ("run", "training")  # MONAI's run id; bundles written before MONAI 1.0 called it "training"
DEFAULT_CKPT_DIR = "models"


@dataclass(frozen=True)
class BundleRun:
    """A checked bundle and how to run it: files for MONAI, overrides, seed, where its outputs go."""

    spec: RunSpec
    bundle: BundleConfig
    overrides: tuple[BundleOverride, ...]
    seed: BundleSeed
    run_id: str
    warnings: tuple[ConfigIssue, ...]

    @property
    def root(self) -> Path:
        return self.bundle.root


def prepare_bundle_run(spec: RunSpec, engine_id: str = TRAINER_ID) -> BundleRun:
    """Check the bundle with its overrides (exit 2 on any problem, nothing run) and read its seed and run id.

    ``engine_id`` is the item the command runs (``train#trainer``; ``validate#evaluator`` or
    ``evaluator`` for validate and infer): a bundle without it is exit 2 here.
    """
    if spec.environment:
        raise MmarRunnerError(NO_ENVIRONMENT)
    overrides = tuple(parse_overrides(spec.sets))
    checked = check_bundle(spec.mmar, spec.config, overrides)
    config = checked.bundle.config
    run_id = next((i for i in RUN_IDS if i in config), None)
    if run_id is None:
        raise ConfigError([ConfigIssue(checked.bundle.display(checked.bundle.files[-1]), "run",
                                       "no 'run' item: nothing says how to train",
                                       hint='add "run": ["$@train#trainer.run()"], as MONAI\'s bundle specification has it')])
    if not _has_id(config, engine_id):
        raise ConfigError([ConfigIssue(checked.bundle.display(checked.bundle.files[-1]), engine_id,
                                       f"no {engine_id} item: the runner finds what {spec.command} runs by MONAI's property id")])
    for warning in checked.warnings:
        logger.warning("%s", warning.render())
    return BundleRun(spec, checked.bundle, overrides, bundle_seed(config), run_id, checked.warnings)


def _has_id(config: dict[str, Any], config_id: str) -> bool:
    node: Any = config
    for part in config_id.split("#"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def make_workflow(run: BundleRun) -> Any:
    """MONAI's ``ConfigWorkflow`` over the bundle's files and overrides, with arguments today's MONAI removed or
    renamed rewritten as the check rewrote them: reading only, nothing evaluated yet."""

    overrides = {o.monai_id: o.value for o in run.overrides}
    overrides.setdefault("bundle_root", str(run.root))  # as `monai.bundle run --bundle_root`
    quiet = logging.getLogger("monai.bundle.workflows")  # its notes on no logging file and no property set: ours are chosen
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        workflow = _config_workflow(run, overrides)
    finally:
        quiet.setLevel(level)
    rewrite_legacy_arguments(workflow.parser.get())  # as the check did: arguments today's MONAI lacks
    return workflow


def _config_workflow(run: BundleRun, overrides: dict[str, Any]) -> Any:
    from monai.bundle import ConfigWorkflow

    return ConfigWorkflow(config_file=[str(f) for f in run.bundle.files], meta_file=str(run.root / BUNDLE_METADATA),
                          logging_file=False, run_id=run.run_id, workflow_type=None, **overrides)


def output_folder(workflow: Any, root: Path, folder_ids: Sequence[str] = (CKPT_DIR_ID, OUTPUT_DIR_ID),
                  default: str = DEFAULT_CKPT_DIR) -> Path:
    """Where the bundle's own savers write, resolved by MONAI: its ``ckpt_dir``, else its ``output_dir``, else ``default``."""
    parser = workflow.parser
    folder_id = next((i for i in folder_ids if i in parser), None)
    if folder_id is None:
        return root / default
    value = parser.get_parsed_content(folder_id)
    parser.ref_resolver.remove_resolved_content(folder_id)
    if not isinstance(value, (str, Path)):
        raise ConfigError([ConfigIssue("configs", folder_id, f"expected a folder path, got {type(value).__name__}")])
    path = Path(value)
    return path if path.is_absolute() else (root / path)


def run_bundle_training(spec: RunSpec) -> TrainResult:
    """Train a bundle as MONAI would, pinned, recorded and resumable; outputs in its ``ckpt_dir``.

    Raises the same errors as :func:`runner.workflow.train.run_training`.
    """
    prepare_process_env()
    run = prepare_bundle_run(spec)
    resume_every_s = checkpoint_interval()
    context = context_from_env()
    if context.distributed:
        init_process_group(context)  # before the bundle's initialize: its `dist.is_initialized() or ...` then keeps ours
    workflow = make_workflow(run)
    ckpt_dir = output_folder(workflow, run.root)
    settings = DeterminismSettings(seed=run.seed.seed)
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    with RunSession(ckpt_dir, MANIFEST_NAME, spec.command, is_main=context.is_main, lock_wait_s=spec.lock_wait_s) as session, \
            bundle_code(run.root):
        pinned = apply_determinism(settings)
        call_user(workflow.initialize)
        settings, flags = bundle_requests(settings, pinned)
        objects = BundleObjects(workflow.parser, context.rank, context.world_size)
        data = shared_from_main(lambda: digest_bundle_data(objects, spec, ("train#dataset#data", "validate#dataset#data")),
                                context.is_main, context.distributed)
        trainer = objects.get(TRAINER_ID)
        pins = pin_data_rngs(objects, settings.seed)
        base = bundle_manifest_base(run, started_at, flags, trainer, data, pins, world_size=context.world_size)
        record = RunRecord()
        keeper = _resume_keeper(run, ckpt_dir, objects, trainer, record, base, data, resume_every_s, context.is_main)
        if keeper is not None and keeper.resumed_from is not None:
            base["resumed_from"] = str(keeper.resumed_from)
        _prepare(trainer, objects, record, settings, spec, keeper)
        if spec.tracking.enabled and context.is_main:
            session.tracking = _track(run, base, trainer, record, keeper)
        session.start(base, beside={DATA_FILES_NAME: data.to_json()})
        try:
            with signals_request_checkpoint(keeper, escalate=not context.distributed) if keeper else nullcontext():
                call_user(workflow.run)
        except MmarRunnerError as exc:
            if exc.exit_code != BAD_INPUT_EXIT and context.is_main:
                session.fail(exc.message, record.summary())
            raise
        except KeyboardInterrupt:
            stop_interrupted(session, record)
        if keeper is not None and keeper.preempted:
            stop_on_signal(session, keeper, record, context)
        call_user(workflow.finalize)
        finished = finish_training(session, _network(trainer, objects), record, started, base["determinism"], context.is_main)
        if context.is_main:
            shutil.rmtree(resume_dir(ckpt_dir), ignore_errors=True)
    barrier_and_destroy(context)
    return finished.result(record)


def bundle_requests(settings: DeterminismSettings, pinned: dict[str, Any]) -> tuple[DeterminismSettings, dict[str, Any]]:
    """What the bundle's ``initialize`` changed of the pins: honoured, recorded, and reflected in ``bitwise_reproducible``."""
    import torch

    after = DeterminismSettings(seed=settings.seed, cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
                                tf32=settings.tf32, deterministic_algorithms=torch.are_deterministic_algorithms_enabled())
    flags = read_back_flags(after)
    changed = {name: {"pinned": pinned.get(name), "bundle": flags.get(name)}
               for name in ("deterministic_algorithms", "cudnn_deterministic", "cudnn_benchmark", "float32_matmul_precision")
               if pinned.get(name) != flags.get(name)}
    if not torch.backends.cudnn.deterministic:
        flags["bitwise_reproducible"] = False
    flags["changed_by_bundle"] = changed
    for name, values in changed.items():
        logger.warning("the bundle's initialize set %s to %s (pinned: %s): honoured; the run is %s", name, values["bundle"],
                       values["pinned"], "bitwise reproducible" if flags["bitwise_reproducible"] else "not bitwise reproducible")
    return after, flags


def digest_bundle_data(objects: BundleObjects, spec: RunSpec, data_ids: Sequence[str]) -> DataDigest:
    """Hash the files the datasets' ``data`` lists (``data_ids``) name, before any dataset loads them."""
    from runner.data.content_digest import digest_files
    from runner.data.digest_cache import DigestCache
    from runner.data.named_files import entry_files

    named = []
    for data_id in data_ids:
        if data_id.replace("#", "::") not in objects.parser:
            continue
        entries = objects.get(data_id)
        if isinstance(entries, Sequence) and all(isinstance(e, dict) for e in entries):
            named += entry_files(f"configs: {data_id}", data_id, entries)
    cache_context = DigestCache(Path(spec.data_cache)) if spec.data_cache else nullcontext(None)
    with cache_context as cache:
        data = digest_files(named, None, cache)
    logger.info("data: %d files, %.1f MB, %s", data.files, data.bytes / 1e6, data.digest)
    return data


def bundle_manifest_base(run: BundleRun, started_at: datetime, flags: dict[str, Any], trainer: Any, data: DataDigest,
                         pins: dict[str, Any], data_list: str = DATA_FILES_NAME, world_size: int = 1) -> dict[str, Any]:
    """The facts known before training starts, in the MMAR manifest's fields (mmar diff/verify read both alike)."""
    bundle = run.bundle
    device = getattr(trainer, "device", "cpu")
    metadata = bundle.metadata
    state = getattr(trainer, "state", None)
    return {
        "command": run.spec.command,
        "format": "monai-bundle",
        "started_at": started_at.isoformat(),
        "mmar_root": str(bundle.root),
        "config_file": ",".join(str(f) for f in bundle.files),
        "environment_file": None,
        "bundle": {"name": metadata.get("name") or bundle.root.name, "version": metadata.get("version"),
                   "run_id": run.run_id, "seed_from": run.seed.source,
                   "legacy_arguments": [entry.record() for entry in bundle.legacy]},
        "seed": run.seed.seed,
        "variables": {},
        "overrides": json_data({o.config_id: o.value for o in run.overrides}),
        "determinism": {**flags, "data_rngs_pinned": pins},
        "amp": {"requested": bool(getattr(trainer, "amp", False)), "in_force": bool(getattr(trainer, "amp", False))},
        "config_digest": config_digest(_without_meta(bundle.config), bundle.root, _output_values(bundle.config)),
        "datalist_digests": {},
        "data": {**data.summary(), "list": data_list, "root": None},
        "custom_code_digest": folder_digest(bundle.root / "scripts"),
        "max_epochs": getattr(state, "max_epochs", None),
        "versions": library_versions(),
        "device": device_fingerprint(device),
        "warnings": [w.render() for w in run.warnings],
        "runner_supplied": {},
        "search_point": None,
        "image": run.spec.image,
        "invocation": invocation(),
        "world_size": world_size,
        "reproduce": _reproduce(run, world_size),
    }


def _output_values(config: dict[str, Any]) -> dict[str, str]:
    """The output folder items' values: where a run writes cannot change its numbers (verify's two runs differ there)."""
    return {name: config[name] for name in (CKPT_DIR_ID, OUTPUT_DIR_ID) if isinstance(config.get(name), str)}


def _without_meta(config: dict[str, Any]) -> dict[str, Any]:
    from runner.bundle.load import BUNDLE_ROOT_ID, META_KEY

    return {k: v for k, v in config.items() if k not in (META_KEY, BUNDLE_ROOT_ID)}


def _reproduce(run: BundleRun, world_size: int) -> str:
    """The command that repeats this run on one host: bundle and config files by absolute path, the same overrides,
    all its processes here (several nodes become as many processes: the same world size trains the same weights)."""
    one_host = replace(run.spec, mmar=str(run.root), config=",".join(str(f) for f in run.bundle.files),
                       sets=tuple(o.word() for o in run.overrides), progress=True, fresh=False, lock_wait_s=0.0,
                       tracking=TrackingOptions(), nodes=NodeLayout(), processes=world_size if world_size > 1 else None)
    return shlex.join(["mmar", *mmar_argv(one_host)])


def _resume_keeper(run: BundleRun, ckpt_dir: Path, objects: BundleObjects, trainer: Any, record: RunRecord,
                   base: dict[str, Any], data: DataDigest, every_s: float, is_main: bool) -> ResumeKeeper | None:
    if not is_engine(trainer):
        return None
    inputs = RunInputs(base["config_digest"], file_digests(run.root / "scripts"), {}, objects.world_size, data)
    keeper = ResumeKeeper(ckpt_dir, objects, trainer, objects.built("validate", "evaluator"), record, inputs, is_main, every_s)
    if run.spec.fresh:
        if is_main and resume_dir(ckpt_dir).is_dir():
            logger.info("--fresh: removing the resume checkpoints in %s", resume_dir(ckpt_dir))
            shutil.rmtree(resume_dir(ckpt_dir))
        return keeper
    network = getattr(trainer, "network", None)
    model_keys = set(model_state(network)) if network is not None else set()
    keeper.found = find_resume(ckpt_dir, inputs, model_keys, run.bundle.display(run.bundle.files[-1]))
    if keeper.found is not None:
        refuse_finished(keeper.found, getattr(trainer.state, "max_epochs", None))
    return keeper


def _prepare(trainer: Any, objects: BundleObjects, record: RunRecord, settings: DeterminismSettings, spec: RunSpec,
             keeper: ResumeKeeper | None) -> None:
    """The runner's handlers on the bundle's trainer, and the resume checkpoint restored, before the run begins."""
    if not is_engine(trainer):
        raise ConfigError([ConfigIssue("configs", "train#trainer", f"{type(trainer).__name__} is not an ignite Engine",
                                       hint="mmar trains bundles whose train#trainer is a MONAI trainer (SupervisedTrainer, ...)")])
    record.attach(trainer, objects.built("validate", "evaluator"), getattr(trainer.state, "max_epochs", None), spec.progress,
                  spec.max_iterations, getattr(trainer, "optimizer", None))
    attach_strict_guard(trainer, settings)
    if keeper is not None:
        keeper.attach_and_resume()


def _track(run: BundleRun, base: dict[str, Any], trainer: Any, record: RunRecord, keeper: ResumeKeeper | None) -> Any:
    from runner.tracking.training import RunTracking

    tracking = RunTracking(run.spec.tracking)
    resume_run_id = keeper.found.payload.get("tracking_run_id") if keeper is not None and keeper.found is not None else None
    base["tracking"] = tracking.begin(base["bundle"]["name"], base, {}, base["overrides"], _without_meta(run.bundle.config),
                                      resume_run_id if isinstance(resume_run_id, str) else None)
    if keeper is not None:
        keeper.tracking_run_id = tracking.run_id
    tracking.attach(trainer, record)
    return tracking


def _network(trainer: Any, objects: BundleObjects) -> Any:
    network = getattr(trainer, "network", None) or objects.built("train", "model")
    if network is None:
        raise RunFailedError(f"{type(trainer).__name__} exposes no .network to digest")
    return network
