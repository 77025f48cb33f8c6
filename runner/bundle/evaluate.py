"""``mmar validate BUNDLE`` and ``mmar infer BUNDLE``: the bundle's ``evaluate.json`` / ``inference.json``, run by MONAI.

As MONAI's model zoo runs them: validation merges ``configs/train.json`` and
``configs/evaluate.json`` (the evaluator is ``validate#evaluator``), inference reads
``configs/inference.json`` alone (the evaluator is ``evaluator``); ``-c`` names other files.
Around MONAI's run the runner does what it does for an MMAR's evaluation: the static check,
the pins, the data digest, a run session on the bundle's ``output_dir`` (``eval/`` when it has
none), and ``<command>_manifest.json`` with the metrics and the digest of the weights that
produced them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from runner.bundle.code import bundle_code
from runner.bundle.objects import BundleObjects, pin_data_rngs
from runner.bundle.train import (
    OUTPUT_DIR_ID,
    bundle_manifest_base,
    bundle_requests,
    digest_bundle_data,
    make_workflow,
    output_folder,
    prepare_bundle_run,
)
from runner.determinism import DeterminismSettings, apply_determinism, prepare_process_env
from runner.errors import MmarRunnerError, RunFailedError
from runner.manifest import model_state, weights_digest
from runner.run_spec import RunSpec
from runner.workflow.common import call_user, is_engine
from runner.workflow.data_record import data_files_name
from runner.workflow.evaluate import EvalResult, cases_seen, scalar_metrics
from runner.workflow.session import RunSession

# command -> (default config files, the evaluator's id, the id of the data list it reads)
EVALUATIONS = {
    "validate": ("configs/train.json,configs/evaluate.json", "validate#evaluator", "validate#dataset#data"),
    "infer": ("configs/inference.json", "evaluator", "dataset#data"),
}
DEFAULT_OUTPUT_DIR = "eval"


def run_bundle_evaluation(spec: RunSpec) -> EvalResult:
    """Run a bundle's evaluator once over its data, pinned and recorded; outputs in its ``output_dir``.

    Raises:
        ConfigError: bad input, nothing run (a missing evaluate.json is named with what to add).
        RunLockedError / RunFailedError: as for an MMAR's evaluation.
    """
    default_configs, evaluator_id, data_id = EVALUATIONS[spec.command]
    prepare_process_env()
    if spec.config is None:
        missing = [c for c in default_configs.split(",") if not (Path(spec.mmar) / c).is_file()]
        if missing:
            raise MmarRunnerError(f"{spec.mmar}: {spec.command} reads {' and '.join(default_configs.split(','))}; "
                                  f"{', '.join(missing)} not found", hint="name the config files with -c a.json,b.json")
        spec = replace(spec, config=default_configs)
    run = prepare_bundle_run(spec, evaluator_id)
    workflow = make_workflow(run)
    out_dir = output_folder(workflow, run.root, (OUTPUT_DIR_ID,), DEFAULT_OUTPUT_DIR)
    manifest_name = f"{spec.command}_manifest.json"
    data_list = data_files_name(manifest_name)
    settings = DeterminismSettings(seed=run.seed.seed)
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    with RunSession(out_dir, manifest_name, spec.command, lock_wait_s=spec.lock_wait_s) as session, bundle_code(run.root):
        pinned = apply_determinism(settings)
        call_user(workflow.initialize)
        settings, flags = bundle_requests(settings, pinned)
        objects = BundleObjects(workflow.parser)
        data = digest_bundle_data(objects, spec, (data_id,))
        evaluator = objects.get(evaluator_id)
        if not is_engine(evaluator):
            raise RunFailedError(f"{evaluator_id}: {type(evaluator).__name__} is not an ignite engine; {spec.command} runs evaluators")
        pins = pin_data_rngs(objects, settings.seed)
        base = bundle_manifest_base(run, started_at, flags, evaluator, data, pins, data_list)
        session.start(base, beside={data_list: data.to_json()})
        call_user(workflow.run)
        call_user(workflow.finalize)
        digest = weights_digest(model_state(evaluator.network))
        metrics = scalar_metrics(evaluator.state.metrics)
        cases = cases_seen(evaluator)
        written = session.written()
        manifest_path = session.complete({
            "duration_s": round(time.perf_counter() - started, 3),
            "model": {"weights_digest": digest},
            "cases": cases,
            "metrics": metrics,
            "outputs": [str(p) for p in written],
        })
    return EvalResult(out_dir, manifest_path, metrics, digest, cases, written)
