"""``mmar validate`` and ``mmar infer``: run a flat config's evaluator once over its data.

Same order as training (process env -> determinism -> static check -> build -> run), with the
model from the config's one enabled ``model`` entry. Outputs go to MMAR_EVAL_OUTPUT_PATH: what the
config's handlers and post-transforms write (MetricsSaver CSVs, SaveImaged NIfTI files), plus
``<command>_manifest.json`` with the metrics and the digest of the weights that produced them, and
``<command>_data_files.json`` beside it (the digest of every data file the datalist names).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runner.components.build import Builder
from runner.components.check import check_mmar
from runner.components.saved_models import model_entry_path
from runner.config.load import LoadedConfig
from runner.config.models import EvalConfig
from runner.config.report import render_warnings
from runner.determinism import apply_determinism, prepare_process_env
from runner.errors import MmarRunnerError, RunFailedError
from runner.legacy.clara_code import mmar_code
from runner.manifest import manifest_base, model_state, weights_digest
from runner.mmar import resolve_in_mmar
from runner.run_spec import RunSpec
from runner.tracking.training import RunTracking
from runner.workflow.common import (
    call_user,
    datalist_digests,
    is_engine,
    note_worker_count,
    pick_device,
    seed_datasets,
    settings_for,
)
from runner.workflow.data_record import data_files_name, data_root, digest_run_data, manifest_record
from runner.workflow.diagnose import trace_of
from runner.workflow.provenance import report_checkpoint
from runner.workflow.session import RunSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation produced and where."""

    output_dir: Path
    manifest_path: Path
    metrics: dict[str, float]
    model_digest: str
    cases: int
    written: list[Path]


def eval_output_dir(loaded: LoadedConfig) -> Path:
    return Path(str(loaded.variables["MMAR_EVAL_OUTPUT_PATH"]))


def run_evaluation(loaded: LoadedConfig, spec: RunSpec) -> EvalResult:
    """Run the evaluator of a validation or inference config, in a :class:`RunSession` on its output folder.

    Raises:
        ConfigError / ComponentError: bad input (nothing is left in the output folder).
        RunLockedError: another run holds the output folder.
        RunFailedError: the evaluation itself failed; the manifest then says ``status: "failed"``.
    """
    command = spec.command
    if not isinstance(loaded.model, EvalConfig):
        raise MmarRunnerError(f"{loaded.file}: {command} needs a flat evaluation config, not a training config",
                              hint=f"pass -c {loaded.kind.default_file}")
    prepare_process_env()
    warnings = check_mmar(loaded)
    for line in render_warnings(warnings):
        logger.warning("%s", line)
    device = pick_device(loaded.model.use_gpu)
    amp = bool(loaded.model.amp and device.type == "cuda")
    out_dir = eval_output_dir(loaded)
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    with RunSession(out_dir, f"{command}_manifest.json", command, lock_wait_s=spec.lock_wait_s) as session, \
            mmar_code(loaded.mmar.root):
        flags = apply_determinism(settings_for(loaded))
        builder = Builder(loaded, device=device, amp=amp)
        data = digest_run_data(builder, spec.data_cache, spec.progress)  # before the dataset loads: a missing file is exit 2 at once
        data_list = data_files_name(f"{command}_manifest.json")
        network = builder.get("validate", "model")
        evaluator = builder.get("validate", "evaluator")
        seed_datasets(builder, loaded.seed)
        note_worker_count(builder)
        if not is_engine(evaluator):
            raise RunFailedError(f"{type(evaluator).__name__} is not an ignite engine; {command} runs evaluators only")
        base = manifest_base(loaded, spec, started_at, flags, amp, device, datalist_digests(builder), warnings, builder.supplied,
                             data=manifest_record(data, data_list, data_root(loaded.variables)))
        base.update(model={"entry": model_entry_path(loaded.model), "source": _describe_source(loaded.model),
                           "checkpoint": _checkpoint_origin(loaded)})
        if spec.tracking.enabled:
            session.tracking = RunTracking(spec.tracking)
            base["tracking"] = session.tracking.begin(loaded.mmar.root.name, base, loaded.variables, loaded.overrides, loaded.resolved)
        session.start(base, beside={data_list: data.to_json()})
        call_user(evaluator.run, trace_of(loaded))  # a failure leaves the session: failed manifest, or nothing kept on bad input
        # After the run: a CheckpointLoader handler (Clara's component model entries) loads the weights as it starts.
        digest = weights_digest(model_state(network))
        session.base["model"]["weights_digest"] = digest
        metrics = scalar_metrics(evaluator.state.metrics)
        cases = cases_seen(evaluator)
        if session.tracking is not None:
            session.tracking.metrics(metrics)
        written = session.written()
        manifest_path = session.complete({
            "duration_s": round(time.perf_counter() - started, 3),
            "cases": cases,
            "metrics": metrics,
            "outputs": [str(p) for p in written],
        })
    return EvalResult(out_dir, manifest_path, metrics, digest, cases, written)


def _describe_source(config: EvalConfig) -> str:
    entry = config.enabled_model
    return getattr(entry, "ts_path", None) or getattr(entry, "ckpt_path", None) or f"component {entry.label}"


def _checkpoint_origin(loaded: LoadedConfig) -> dict[str, Any] | None:
    """The checkpoint file the model entry reads and the run that wrote it (None: a component model, or no such file)."""
    entry = loaded.model.enabled_model if isinstance(loaded.model, EvalConfig) else None
    source = getattr(entry, "ckpt_path", None)  # a TorchScript file is mmar export's, which names its checkpoint inside
    return report_checkpoint(resolve_in_mmar(loaded.mmar.root, source)) if isinstance(source, str) else None


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    found = {}
    for name, value in metrics.items():
        try:
            found[name] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError, RuntimeError):
            continue
    return found


def cases_seen(evaluator: Any) -> int:
    loader = getattr(evaluator, "data_loader", None)
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else int(evaluator.state.iteration)
    except TypeError:
        return int(evaluator.state.iteration)
