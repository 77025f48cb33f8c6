"""Every run lands in a real MLflow server, read back through MLflow's client (issue 17).

Params, metric histories with their steps, provenance tags, the data digest as the dataset input,
artifacts; a preempted and resumed run
is one MLflow run with contiguous steps; a 2-process run logs once; verify's two runs are children
of one parent that says bit-identical; diff takes run ids; a server that is down at the start is
exit 3, one that goes away mid-run never stops training.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.errors import PREEMPTED_EXIT
from tests.conftest import REPO, TINY_SET, run_cli
from tests.mlflow_server import stop_server

pytestmark = pytest.mark.slow


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run_manifest.json").read_text())


def steps(uri: str, run_id: str, name: str) -> list[int]:
    return [metric.step for metric in sorted(client(uri).get_metric_history(run_id, name), key=lambda m: (m.step, m.timestamp))]


def runs_of(uri: str, experiment: str) -> list[Any]:
    found = client(uri).get_experiment_by_name(experiment)
    return [] if found is None else client(uri).search_runs([found.experiment_id])


def test_a_tracked_run_logs_params_metrics_tags_and_artifacts(make_mmar: Callable[..., Path], mlflow_uri: str, tmp_path: Path) -> None:
    root = make_mmar(custom={"helpers.py": "SCALE = 1\n"})
    out = tmp_path / "out"
    long_value = "[" + ",".join(["1"] * 300) + "]"  # over MLflow's 500-character cap for a parameter value
    done = run_cli("train", str(root), "--tracking", "mlflow", "--tracking-uri", mlflow_uri, "--experiment", "basic",
                   "--set", *TINY_SET, f"MMAR_CKPT_DIR={out}", f"unused_list={long_value}")
    assert done.returncode == 0, done.stderr[-3000:]
    written = manifest(out)
    run = client(mlflow_uri).get_run(written["tracking"]["run_id"])
    assert run.info.status == "FINISHED" and len(runs_of(mlflow_uri, "basic")) == 1
    assert run.data.params["epochs"] == "2" and run.data.params["set.epochs"] == "2"
    assert "params_long.json" in run.data.params["set.unused_list"]
    tags = run.data.tags
    assert tags["mmar.weights_digest"] == written["weights_digest"] and tags["mmar.config_digest"] == written["config_digest"]
    assert tags["mmar.custom_code_digest"] == written["custom_code_digest"] != None and tags["mmar.world_size"] == "1"  # noqa: E711
    assert tags["mmar.determinism.deterministic_algorithms"] == "True" and tags["mmar.device.device"] == "cpu"
    assert tags["mmar.reproduce"] == written["reproduce"] and tags["mmar.datalist_digest.train"].startswith("sha256:")
    assert steps(mlflow_uri, run.info.run_id, "loss") == list(range(1, written["iterations"] + 1))
    assert steps(mlflow_uri, run.info.run_id, "val_mean_dice") == [1, 2]
    rates = client(mlflow_uri).get_metric_history(run.info.run_id, "learning_rate")
    assert sorted((m.step, m.value) for m in rates) == [(1, 2e-4), (2, 2e-4)], "the demo's rate, once per epoch"
    data = written["data"]
    assert tags["mmar.data_digest"] == data["digest"] and tags["mmar.data_files"] == f"{data['files']} files, {data['bytes']} bytes"
    (data_input,) = run.inputs.dataset_inputs  # the data digest is the run's dataset input
    assert data_input.dataset.digest == data["digest"].removeprefix("sha256:")[:36]
    assert json.loads(data_input.dataset.profile) == {"digest": data["digest"], "files": data["files"], "bytes": data["bytes"]}
    assert json.loads(data_input.dataset.source) == {"uri": data["root"]}
    assert {(tag.key, tag.value) for tag in data_input.tags} == {("mlflow.data.context", "training")}
    artifacts = {artifact.path for artifact in client(mlflow_uri).list_artifacts(run.info.run_id)}
    assert {"run_manifest.json", "data_files.json", "train_stats.json", "config_resolved.json", "params_long.json"} <= artifacts
    logged = json.loads(Path(client(mlflow_uri).download_artifacts(run.info.run_id, "run_manifest.json", str(tmp_path))).read_text())
    assert logged["weights_digest"] == written["weights_digest"] and logged["status"] == "completed"


def test_a_preempted_and_resumed_run_is_one_mlflow_run_with_contiguous_steps(make_mmar: Callable[..., Path], mlflow_uri: str,
                                                                              tmp_path: Path) -> None:
    root = make_mmar()
    out = tmp_path / "out"
    words = ["train", str(root), "--no-progress", "--tracking-uri", mlflow_uri, "--experiment", "resumed",
             "--set", *TINY_SET, "epochs=8", f"MMAR_CKPT_DIR={out}"]
    log = tmp_path / "first.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "runner", *words], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.time() + 300
        while "epoch 2" not in log.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=300) == PREEMPTED_EXIT, log.read_text()[-3000:]
    first_id = manifest(out)["tracking"]["run_id"]
    assert client(mlflow_uri).get_run(first_id).info.status == "KILLED"
    resumed = run_cli(*words)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert manifest(out)["tracking"]["run_id"] == first_id and manifest(out)["resumed_from"]
    assert len(runs_of(mlflow_uri, "resumed")) == 1
    assert client(mlflow_uri).get_run(first_id).info.status == "FINISHED"
    assert steps(mlflow_uri, first_id, "loss") == list(range(1, manifest(out)["iterations"] + 1)), "no step twice, none missing"
    assert steps(mlflow_uri, first_id, "epoch_loss") == list(range(1, 9))


def test_two_processes_log_once(make_mmar: Callable[..., Path], mlflow_uri: str, tmp_path: Path) -> None:
    root = make_mmar()
    out = tmp_path / "out"
    done = run_cli("train", str(root), "--nproc", "2", "--tracking-uri", mlflow_uri, "--experiment", "two",
                   "--set", *TINY_SET, f"MMAR_CKPT_DIR={out}", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = runs_of(mlflow_uri, "two")
    assert run.data.tags["mmar.world_size"] == "2" and run.info.run_id == manifest(out)["tracking"]["run_id"]
    assert steps(mlflow_uri, run.info.run_id, "loss") == [1, 2], "rank 0's iterations, each once"


def test_verify_logs_two_children_under_a_parent_and_diff_takes_run_ids(make_mmar: Callable[..., Path], mlflow_uri: str) -> None:
    root = make_mmar()
    done = run_cli("verify", str(root), "--tracking-uri", mlflow_uri, "--experiment", "verify", "--set", *TINY_SET)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = runs_of(mlflow_uri, "verify")
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and len(children) == 2
    assert parent.data.tags["mmar.verify"] == "bit-identical" and parent.info.status == "FINISHED"
    compared = run_cli("diff", children[0].info.run_id, children[1].info.run_id, env={"MLFLOW_TRACKING_URI": mlflow_uri})
    assert compared.returncode == 0 and compared.stdout.splitlines()[-1].startswith("bit-identical: sha256:"), compared.stderr[-2000:]
    assert re.search(r"^  MMAR_CKPT_DIR: \S+/run[12] -> \S+/run[12]$", compared.stdout, re.M), "variables from the runs' manifests"
    unknown = run_cli("diff", children[0].info.run_id, "0" * 32, env={"MLFLOW_TRACKING_URI": mlflow_uri})
    assert unknown.returncode == 2 and f"MLflow run {'0' * 32}" in unknown.stderr


def test_a_server_that_is_down_at_the_start_is_exit_3_and_nothing_is_written(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    from tests.mlflow_server import free_port

    root = make_mmar()
    out = tmp_path / "out"
    started = time.perf_counter()
    done = run_cli("train", str(root), "--tracking-uri", f"http://127.0.0.1:{free_port()}", "--set", *TINY_SET, f"MMAR_CKPT_DIR={out}")
    assert done.returncode == 3, done.stderr[-3000:]
    assert "error: the tracking server at http://127.0.0.1:" in done.stderr and "Traceback" not in done.stderr
    assert "--tracking none" in done.stderr
    assert not out.exists() or not (out / "run_manifest.json").exists()
    assert time.perf_counter() - started < 120, "a down server is reported after a few short retries, not minutes"


def test_a_server_that_goes_away_mid_run_never_stops_training(make_mmar: Callable[..., Path], own_server: Any, tmp_path: Path) -> None:
    root = make_mmar()
    out = tmp_path / "out"
    server, uri = own_server()
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "runner", "train", str(root), "--no-progress", "--tracking-uri", uri,
                                    "--set", *TINY_SET, "epochs=6", f"MMAR_CKPT_DIR={out}"], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ})
        deadline = time.time() + 300
        while "epoch 1" not in log.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        stop_server(server, signal.SIGKILL)
        assert process.wait(timeout=600) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "tracking: MLflow at" in text and "stopped answering" in text and "training goes on" in text
    assert "not logged to MLflow run" in text
    assert manifest(out)["status"] == "completed" and manifest(out)["epochs_completed"] == 6
