"""Kubernetes manifests: rendered with the official client's models, read back by its deserializer, pinned by golden files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes.client import V1Job, V1Service

from runner.k8s import K8sRequest, from_yaml, job_name, label_value, render, to_bytes, to_yaml
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
    assert container.resources.limits == container.resources.requests == {"nvidia.com/gpu": str(gpus), "cpu": str(8 * gpus),
                                                                          "memory": f"{32 * gpus}Gi"}
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


def test_without_a_data_pvc_the_empty_data_volume_is_warned_about() -> None:
    import yaml

    without = invoke("k8s", str(DEMO_BUNDLE), "--image", "registry.example/spleen:1.0", "--out-pvc", "out")
    assert without.exit_code == 0 and "warning: no --data-pvc: /data is an empty emptyDir" in without.stderr
    volumes = {v["name"]: v for doc in yaml.safe_load_all(without.stdout) if doc and doc["kind"] == "Job"
               for v in doc["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"].get("emptyDir") == {}, "the warning describes what is rendered"
    with_data = invoke("k8s", str(DEMO_BUNDLE), "--image", "registry.example/spleen:1.0", "--out-pvc", "out", "--data-pvc", "data")
    assert "--data-pvc" not in with_data.stderr and "/data is an empty" not in with_data.stderr


# The Pod Security Standard "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards), baseline rules included.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod: dict) -> list[str]:
    """Every rule of the "restricted" profile the pod spec (as the API spells it) breaks."""
    found = []
    spec = pod["spec"]
    pod_sc = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"host namespaces: {key}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume types: {volume['name']} is {kinds}")
    for key in ("sysctls",):
        if pod_sc.get(key):
            found.append("sysctls")
    containers = spec.get("containers", []) + spec.get("initContainers", []) + spec.get("ephemeralContainers", [])
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess") or (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{name}: hostProcess")
        if any(port.get("hostPort") for port in c.get("ports") or []):
            found.append(f"{name}: host ports")
        if sc.get("procMount") not in (None, "Default"):
            found.append(f"{name}: procMount")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        if not (sc.get("runAsNonRoot") is True or (pod_sc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is not False)):
            found.append(f"{name}: runAsNonRoot must be true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        profile = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if profile not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities may add NET_BIND_SERVICE only")
        se_linux = sc.get("seLinuxOptions") or pod_sc.get("seLinuxOptions") or {}
        if se_linux.get("type") not in (None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t") or \
                se_linux.get("user") or se_linux.get("role"):
            found.append(f"{name}: seLinuxOptions")
        # not "restricted" itself, but what this project promises on top of it
        if not sc.get("readOnlyRootFilesystem"):
            found.append(f"{name}: readOnlyRootFilesystem")
        resources = c.get("resources") or {}
        if not all(k in (resources.get("limits") or {}) and k in (resources.get("requests") or {}) for k in ("cpu", "memory")):
            found.append(f"{name}: cpu and memory requests and limits")
    if spec.get("automountServiceAccountToken") is not False:
        found.append("automountServiceAccountToken must be false")
    return found


@pytest.mark.parametrize("request_", [ONE_NODE, FOUR_BY_EIGHT, K8sRequest("m", "r.example/m:1", 1, 0)], ids=["1x1", "4x8", "cpu"])
def test_every_pod_passes_the_restricted_pod_security_standard(request_: K8sRequest) -> None:
    import yaml

    for document in yaml.safe_load_all(to_yaml(render(request_))):
        if document["kind"] == "Job":
            template = document["spec"]["template"]
            assert restricted_violations(template) == []
            container = template["spec"]["containers"][0]
            shm = next(v for v in template["spec"]["volumes"] if v["name"] == "dshm")["emptyDir"]["sizeLimit"]
            assert to_bytes(shm) < to_bytes(container["resources"]["limits"]["memory"]), "/dev/shm inside the pod's memory"
    assert from_yaml(to_yaml(render(request_))), "and the objects still round-trip through the official client"


def test_the_checker_finds_what_the_old_manifest_broke() -> None:
    """The checker itself: the Pod this project rendered before (no drop ALL, no seccomp, no resources, token mounted)."""
    old = {"spec": {"containers": [{"name": "mmar", "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                                                         "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}}],
                    "volumes": [{"name": "data", "hostPath": {"path": "/data"}}]}}
    assert restricted_violations(old) == ["volume types: data is {'hostPath'}", "mmar: seccompProfile must be RuntimeDefault or Localhost",
                                          "mmar: capabilities must drop ALL", "mmar: cpu and memory requests and limits",
                                          "automountServiceAccountToken must be false"]


def test_label_values_from_any_mmar_name_are_valid_and_the_name_is_kept() -> None:
    import re

    name = "Clara MMAR (copy) #2 " + "x" * 80
    [job] = render(K8sRequest(name, "registry.example/m:1", 1, 1))
    value = job.metadata.labels["mmar-runner/mmar"]
    assert len(value) <= 63 and re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", value)
    assert job.metadata.annotations["mmar-runner/mmar-name"] == name
    assert label_value("__--") == ""


@pytest.mark.parametrize(("changes", "message"), [
    ({"namespace": "Team_A"}, "--namespace: 'Team_A' is not a valid namespace"),
    ({"data_pvc": "My Data"}, "--data-pvc: 'My Data' is not a valid PersistentVolumeClaim name"),
    ({"image": "Registry.Example/Spleen:1.0 ; rm -rf /"}, "--image: 'Registry.Example/Spleen:1.0 ; rm -rf /' is not an image reference"),
    ({"memory": "lots"}, "--memory: 'lots' is not a Kubernetes quantity"),
    ({"memory": "8Gi", "shm_size": "8Gi"}, "--shm-size: /dev/shm (8Gi) is memory of the pod and must be less than its memory (8Gi)"),
])
def test_names_and_sizes_are_checked_with_the_rule(changes: dict, message: str) -> None:
    from dataclasses import replace

    from runner.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        render(replace(ONE_NODE, **changes))
    assert message in refused.value.render()
    cli = invoke("k8s", str(DEMO_BUNDLE), "--image", "registry.example/spleen:1.0", "--namespace", "Team_A")
    assert cli.exit_code == 2 and "--namespace: 'Team_A'" in cli.stderr


def test_tracked_pods_get_the_server_and_its_credentials_from_the_environment() -> None:
    (job,) = render(K8sRequest("spleen", "r.example/s:1", tracking_uri="http://mlflow.ml:5000", tracking_secret="mlflow-creds"))
    container = job.spec.template.spec.containers[0]
    assert container.args[:3] == ["train", "--tracking", "mlflow"] and "http://mlflow.ml:5000" not in container.args
    assert {env.name: env.value for env in container.env}["MLFLOW_TRACKING_URI"] == "http://mlflow.ml:5000"
    assert container.env_from[0].secret_ref.name == "mlflow-creds"
    (untracked,) = render(K8sRequest("spleen", "r.example/s:1"))
    assert "--tracking" not in untracked.spec.template.spec.containers[0].args
    assert untracked.spec.template.spec.containers[0].env_from is None
    from runner.errors import ConfigError

    with pytest.raises(ConfigError, match="no --tracking-uri"):
        render(K8sRequest("spleen", "r.example/s:1", tracking_secret="mlflow-creds"))
