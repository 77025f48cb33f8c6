"""Kubernetes manifests: rendered with the official client's models, read back by its deserializer, pinned by golden files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes.client import V1Job, V1Service

from runner.k8s import K8sRequest, from_yaml, job_name, render, to_yaml
from tests.cli_helpers import invoke
from tests.conftest import DEMO_BUNDLE

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"
ONE_NODE = K8sRequest("spleen_ct_seg", "registry.example/spleen:1.0", 1, 1, "spleen-data", "spleen-out")
FOUR_BY_EIGHT = K8sRequest("spleen_ct_seg", "registry.example/spleen:1.0", 4, 8, "spleen-data", "spleen-out",
                           set_words=("epochs=300",))


@pytest.mark.parametrize(("request_", "golden"), [(ONE_NODE, "one_node.yaml"), (FOUR_BY_EIGHT, "four_nodes_8_gpus.yaml")])
def test_manifests_match_their_golden_files(request_: K8sRequest, golden: str) -> None:
    text = to_yaml(render(request_))
    if os.environ.get("UPDATE_GOLDEN"):
        (GOLDEN / golden).write_text(text)
    assert text == (GOLDEN / golden).read_text(), f"regenerate with UPDATE_GOLDEN=1 if the change is meant: {golden}"


def check_pod_rules(job: V1Job, gpus: int) -> None:
    spec = job.spec
    pod = spec.template.spec
    assert pod.restart_policy == "Never" and spec.backoff_limit == 3
    ignore, fail = spec.pod_failure_policy.rules
    assert ignore.action == "Ignore" and ignore.on_pod_conditions[0].type == "DisruptionTarget"
    assert fail.action == "FailJob" and fail.on_exit_codes.values == [2] and fail.on_exit_codes.container_name == "mmar"
    assert pod.termination_grace_period_seconds == 600
    volumes = {v.name: v for v in pod.volumes}
    assert volumes["dshm"].empty_dir.medium == "Memory"
    assert volumes["data"].persistent_volume_claim.claim_name == "spleen-data" and volumes["data"].persistent_volume_claim.read_only
    assert volumes["out"].persistent_volume_claim.claim_name == "spleen-out"
    container = pod.containers[0]
    assert container.resources.limits == {"nvidia.com/gpu": str(gpus)}
    assert {m.mount_path for m in container.volume_mounts} == {"/data", "/out", "/dev/shm"}
    assert container.security_context.run_as_non_root and container.security_context.read_only_root_filesystem


def test_one_node_is_a_plain_job() -> None:
    [job] = from_yaml(to_yaml(render(ONE_NODE)))
    assert isinstance(job, V1Job) and job.metadata.name == "mmar-spleen-ct-seg"
    assert job.spec.completion_mode is None and job.spec.completions is None
    assert job.spec.template.spec.containers[0].args == ["train"]
    check_pod_rules(job, 1)


def test_several_nodes_are_an_indexed_job_with_a_headless_service() -> None:
    service, job = from_yaml(to_yaml(render(FOUR_BY_EIGHT)))
    assert isinstance(service, V1Service) and isinstance(job, V1Job)
    assert service.spec.cluster_ip == "None" and service.spec.selector == {"job-name": job.metadata.name}
    assert job.spec.completion_mode == "Indexed" and job.spec.completions == job.spec.parallelism == 4
    assert job.spec.template.spec.subdomain == service.metadata.name
    args = job.spec.template.spec.containers[0].args
    assert args[:9] == ["train", "--nproc", "8", "--nnodes", "4", "--node-rank", "$(JOB_COMPLETION_INDEX)",
                        "--master-addr", f"{job.metadata.name}-0.{service.metadata.name}"]
    assert args[-2:] == ["--set", "epochs=300"]
    check_pod_rules(job, 8)


def test_names_are_dns_labels() -> None:
    assert job_name("Spleen_CT seg!") == "mmar-spleen-ct-seg"
    assert len(job_name("x" * 100)) <= 52


def test_cli_prints_the_manifests_and_needs_an_image(tmp_path: Path) -> None:
    done = invoke("k8s", str(DEMO_BUNDLE), "--image", "registry.example/spleen:1.0", "--out-pvc", "out", "--data-pvc", "data")
    assert done.exit_code == 0 and "kind: Job" in done.stdout
    assert invoke("k8s", str(DEMO_BUNDLE)).exit_code == 2
    assert invoke("k8s", str(tmp_path)).exit_code == 2
