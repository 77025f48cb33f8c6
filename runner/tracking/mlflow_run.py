"""One run in MLflow, with the run manifest as its provenance.

Through MLflow's client (no global ``mlflow.start_run`` state): the resolved variables and ``--set``
values as parameters (values over MLflow's 500-character cap go to an artifact), per-iteration loss
and per-epoch metrics with their steps, the digests, determinism flags, world size and device as
tags, the data digest as the run's dataset input, and at the end the manifest, the per-file data
list, ``train_stats.json`` and the resolved config as artifacts.

A server that does not answer when the run starts is exit 3 (:class:`HostError`): nothing has been
trained yet, and the user asked for tracking. Once training runs, tracking never stops it: a failed
call is a warning that says what was not logged (the manifest keeps everything), and nothing more
is sent. Metrics are buffered and sent in batches at epoch ends, so a slow server costs one request
per epoch, not one per iteration.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.errors import HostError, MmarRunnerError, first_line
from runner.tracking.options import TrackingOptions

logger = logging.getLogger(__name__)

PARAM_VALUE_LIMIT = 500  # MLflow refuses longer parameter values
BATCH_LIMIT = 100  # parameters (and tags) per log_batch request; metrics allow 1000
METRIC_BATCH = 1000
LONG_PARAMS_ARTIFACT = "params_long.json"
PARENT_TAG = "mlflow.parentRunId"
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
MANIFEST_ARTIFACT = "run_manifest.json"
DATA_FILES_ARTIFACT = "data_files.json"  # the per-file data list, downloaded beside the manifest for mmar diff
DATASET_NAME = "mmar-data"
DATASET_DIGEST_CHARS = 36  # MLflow's limit for a dataset digest; the full one is in the profile and the mmar.data_digest tag
DATASET_CONTEXT = {"train": "training", "finetune": "training", "validate": "validation", "infer": "inference"}


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise HostError("--tracking mlflow needs MLflow's client, which is not installed",
                        hint="pip install 'mmar-runner[tracking]'") from None
    return MlflowClient(tracking_uri=uri)


def flat_params(variables: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, str]:
    """Parameters: every resolved variable, and each ``--set`` value again as ``set.KEY``."""
    params = {str(key): _text(value) for key, value in variables.items()}
    params.update({f"set.{key}": _text(value) for key, value in overrides.items()})
    return params


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def provenance_tags(manifest: Mapping[str, Any]) -> dict[str, str]:
    """What a reviewer needs to trust a result, from the manifest: digests, flags, world size, device."""
    tags = {"mmar.command": manifest.get("command"), "mmar.mmar_root": manifest.get("mmar_root"),
            "mmar.config_digest": manifest.get("config_digest"),
            "mmar.custom_code_digest": manifest.get("custom_code_digest") or "none (no custom/ code)",
            "mmar.seed": manifest.get("seed"), "mmar.world_size": manifest.get("world_size", 1),
            "mmar.reproduce": manifest.get("reproduce"), "mmar.image": manifest.get("image")}
    for section, digest in (manifest.get("datalist_digests") or {}).items():
        tags[f"mmar.datalist_digest.{section}"] = digest
    data = manifest.get("data") or {}
    tags["mmar.data_digest"] = data.get("digest")
    if data.get("digest"):
        tags["mmar.data_files"] = f"{data.get('files')} files, {data.get('bytes')} bytes"
    for flag, value in (manifest.get("determinism") or {}).items():
        tags[f"mmar.determinism.{flag}"] = value
    device = manifest.get("device") or {}
    for key in ("device", "gpu_name", "gpu_count", "torch_cuda", "cpu_capability", "machine"):
        tags[f"mmar.device.{key}"] = device.get(key)
    versions = manifest.get("versions") or {}
    for name in ("torch", "monai", "pytorch-ignite", "mmar-runner"):
        tags[f"mmar.version.{name}"] = versions.get(name)
    return {key: str(value) for key, value in tags.items() if value is not None}


class MlflowRun:
    """Logs one run; every call after :meth:`start` is best-effort and warns once when the server goes away."""

    def __init__(self, options: TrackingOptions) -> None:
        assert options.uri is not None
        self.options = options
        self.client = _client(options.uri)
        self.run_id: str | None = None
        self.broken: str | None = None
        self.unlogged = 0
        self._metrics: list[Any] = []

    # ---- start ----------------------------------------------------------------------------------
    def start(self, name: str, manifest: Mapping[str, Any], params: Mapping[str, str], resume_run_id: str | None = None) -> str:
        """Create the run (or continue ``resume_run_id``) and log what is known before training. Exit 3 when unreachable."""
        experiment_id = ""
        try:
            experiment_id = self._experiment(self.options.experiment or name)
            if resume_run_id is not None and self._exists(resume_run_id):
                self.run_id = resume_run_id
                self.client.update_run(resume_run_id, status="RUNNING")
                logger.info("tracking: continuing MLflow run %s", resume_run_id)
            else:
                tags = {PARENT_TAG: self.options.parent_run_id} if self.options.parent_run_id else {}
                run = self.client.create_run(experiment_id, tags=tags, run_name=manifest.get("command", "run") + ":" + name)
                self.run_id = run.info.run_id
                self._log_params(params)
        except HostError:
            raise
        except Exception as exc:  # noqa: BLE001 - any way the server fails to answer
            raise HostError(f"the tracking server at {self.options.uri} does not answer: {first_line(exc)}",
                            hint="start it, fix --tracking-uri / MLFLOW_TRACKING_URI, or train with --tracking none") from None
        self.tags(provenance_tags(manifest))
        self.dataset(manifest)
        logger.info("tracking: %s/#/experiments/%s/runs/%s", str(self.options.uri).rstrip("/"), experiment_id, self.run_id)
        return str(self.run_id)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except Exception:  # noqa: BLE001 - created meanwhile by another run
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def _exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
            return True
        except Exception:  # noqa: BLE001 - deleted, or another server: start a new run
            logger.warning("tracking: the resumed run's MLflow run %s is not on %s; logging to a new run", run_id, self.options.uri)
            return False

    def _log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        short = {key: value for key, value in params.items() if len(value) <= PARAM_VALUE_LIMIT}
        long = {key: value for key, value in params.items() if len(value) > PARAM_VALUE_LIMIT}
        short.update({key: f"(longer than {PARAM_VALUE_LIMIT} characters: see {LONG_PARAMS_ARTIFACT})" for key in long})
        items = sorted(short.items())
        for start in range(0, len(items), BATCH_LIMIT):
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in items[start:start + BATCH_LIMIT]])
        if long:
            self.artifact_text(LONG_PARAMS_ARTIFACT, json.dumps(long, indent=2, sort_keys=True))

    def dataset(self, manifest: Mapping[str, Any]) -> None:
        """The manifest's data digest as the run's dataset input (MLflow's Datasets view; its digest field holds 36 characters)."""
        data = manifest.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("digest"), str):
            return
        from mlflow.entities import Dataset, DatasetInput, InputTag

        full = data["digest"]
        profile = {"digest": full, "files": data.get("files"), "bytes": data.get("bytes")}
        dataset = Dataset(name=DATASET_NAME, digest=full.removeprefix("sha256:")[:DATASET_DIGEST_CHARS], source_type="local",
                          source=json.dumps({"uri": data.get("root")}), profile=json.dumps(profile))
        context = DATASET_CONTEXT.get(str(manifest.get("command")), "training")
        inputs = [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])]
        self._call("dataset input", lambda: self.client.log_inputs(self.run_id, datasets=inputs), 1)

    # ---- during the run -------------------------------------------------------------------------
    def metric(self, name: str, value: float, step: int) -> None:
        """Buffered; sent by :meth:`flush` (epoch ends, the end of the run)."""
        from mlflow.entities import Metric

        if self.broken is None:
            self._metrics.append(Metric(name, float(value), int(time.time() * 1000), int(step)))
        else:
            self.unlogged += 1

    def flush(self) -> None:
        pending, self._metrics = self._metrics, []
        for start in range(0, len(pending), METRIC_BATCH):
            self._call("metrics", lambda chunk=pending[start:start + METRIC_BATCH]: self.client.log_batch(self.run_id, metrics=chunk),
                       len(pending) - start)

    def tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = sorted(tags.items())
        for start in range(0, len(items), BATCH_LIMIT):
            chunk = [RunTag(k, v[:5000]) for k, v in items[start:start + BATCH_LIMIT]]
            self._call("tags", lambda chunk=chunk: self.client.log_batch(self.run_id, tags=chunk), len(chunk))

    def artifact(self, path: Path, folder: str | None = None) -> None:
        if path.is_file():
            self._call(f"artifact {path.name}", lambda: self.client.log_artifact(self.run_id, str(path), folder), 1)

    def artifact_text(self, name: str, text: str) -> None:
        with tempfile.TemporaryDirectory(prefix="mmar-tracking-") as folder:
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            self.artifact(path)

    def end(self, status: str) -> None:
        """``FINISHED``, ``FAILED`` or ``KILLED`` (preempted: the resumed run continues this one)."""
        self.flush()
        self._call("run status", lambda: self.client.set_terminated(self.run_id, status=status), 0)
        if self.unlogged:
            logger.warning("tracking: %d value(s) were not logged to MLflow run %s; the run manifest has them all",
                           self.unlogged, self.run_id)

    def _call(self, what: str, send: Any, count: int) -> None:
        if self.broken is not None:
            self.unlogged += count
            return
        try:
            send()
        except Exception as exc:  # noqa: BLE001 - tracking never stops training
            self.broken = first_line(exc)
            self.unlogged += count
            logger.warning("tracking: MLflow at %s stopped answering (%s): %s and everything after it is not logged; "
                           "training goes on and the run manifest keeps everything", self.options.uri, self.broken, what)


def is_run_id(text: str) -> bool:
    return bool(RUN_ID.match(text))


def run_manifest(uri: str | None, run_id: str) -> Path:
    """The run manifest an MLflow run holds as an artifact, downloaded into a temporary folder."""
    if not uri:
        raise MmarRunnerError(f"{run_id} looks like an MLflow run id, and no tracking server is given",
                              hint="--tracking-uri http://HOST:5000, or set MLFLOW_TRACKING_URI")
    client = _client(uri)
    try:
        client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - not found, or the server does not answer
        raise MmarRunnerError(f"MLflow run {run_id} at {uri}: {first_line(exc)}") from None
    folder = tempfile.mkdtemp(prefix="mmar-diff-")
    try:
        manifest = Path(client.download_artifacts(run_id, MANIFEST_ARTIFACT, folder))
    except Exception as exc:  # noqa: BLE001
        raise MmarRunnerError(f"MLflow run {run_id} has no {MANIFEST_ARTIFACT} artifact ({first_line(exc)})",
                              hint="only runs logged by mmar (--tracking mlflow) carry their manifest") from None
    try:
        client.download_artifacts(run_id, DATA_FILES_ARTIFACT, folder)  # beside the manifest, where mmar diff looks for it
    except Exception as exc:  # noqa: BLE001 - an older run without it: the data is compared by digest only
        logger.debug("MLflow run %s: no %s (%s)", run_id, DATA_FILES_ARTIFACT, first_line(exc))
    return manifest
