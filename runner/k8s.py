"""``mmar k8s``: Kubernetes manifests for an MMAR image, built with the official client's models.

One node is a plain Job. N nodes are an Indexed Job (completions = parallelism = N, one pod per
node) plus a headless Service, so pod 0 is reachable at ``<job>-0.<service>`` for torchrun's
rendezvous. Both carry the same safety rules:

* ``restartPolicy: Never`` and a ``podFailurePolicy`` that ignores preemption (the
  ``DisruptionTarget`` pod condition: the pod is restarted and resumes from its checkpoint) and
  fails the Job at once on exit code 2 (bad input: a retry cannot help);
* a termination grace period long enough to write a checkpoint after SIGTERM;
* ``/dev/shm`` as a memory emptyDir (DataLoader workers share batches through it);
* GPUs as ``nvidia.com/gpu`` limits; data and output volumes from PVCs; a non-root, read-only
  container.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from runner.errors import BAD_INPUT_EXIT, MmarRunnerError

CONTAINER = "mmar"
RENDEZVOUS_PORT = 29500


@dataclass(frozen=True)
class K8sRequest:
    mmar_name: str
    image: str
    nodes: int = 1
    gpus_per_node: int = 1
    data_pvc: str | None = None
    out_pvc: str | None = None
    namespace: str | None = None
    shm_size: str = "16Gi"
    grace_seconds: int = 600
    backoff_limit: int = 3
    set_words: tuple[str, ...] = ()


def job_name(mmar_name: str) -> str:
    """A DNS-1123 label from the MMAR's name: ``mmar-spleen-ct-seg``."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"mmar-{mmar_name}".lower()).strip("-")
    return name[:52].rstrip("-")  # room for the pod suffix Kubernetes adds


def render(request: K8sRequest) -> list[Any]:
    """The V1Job (and, for several nodes, the V1Service) for ``request``."""
    if request.nodes < 1 or request.gpus_per_node < 0:
        raise MmarRunnerError("--nodes must be >= 1 and --gpus-per-node >= 0")
    from kubernetes import client as k8s

    name = job_name(request.mmar_name)
    labels = {"app.kubernetes.io/name": "mmar-runner", "app.kubernetes.io/instance": name, "mmar-runner/mmar": request.mmar_name}
    multi = request.nodes > 1
    service = f"{name}-rdzv"
    args = _container_args(request, name, service)
    env = [k8s.V1EnvVar(name="OMP_NUM_THREADS", value="1")]
    if multi:
        env.append(k8s.V1EnvVar(name="JOB_COMPLETION_INDEX", value_from=k8s.V1EnvVarSource(
            field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.annotations['batch.kubernetes.io/job-completion-index']"))))
    limits = {"nvidia.com/gpu": str(request.gpus_per_node)} if request.gpus_per_node else {}
    container = k8s.V1Container(
        name=CONTAINER, image=request.image, args=args, env=env,
        resources=k8s.V1ResourceRequirements(limits=limits or None, requests=limits or None),
        ports=[k8s.V1ContainerPort(container_port=RENDEZVOUS_PORT, name="rdzv")] if multi else None,
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path="/data", read_only=True),
                       k8s.V1VolumeMount(name="out", mount_path="/out"),
                       k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm")],
        security_context=k8s.V1SecurityContext(run_as_non_root=True, run_as_user=10001, read_only_root_filesystem=True,
                                               allow_privilege_escalation=False),
    )
    volumes = [
        _volume(k8s, "data", request.data_pvc, read_only=True),
        _volume(k8s, "out", request.out_pvc, read_only=False),
        k8s.V1Volume(name="dshm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit=request.shm_size)),
    ]
    pod = k8s.V1PodSpec(containers=[container], volumes=volumes, restart_policy="Never",
                        termination_grace_period_seconds=request.grace_seconds, subdomain=service if multi else None,
                        security_context=k8s.V1PodSecurityContext(fs_group=10001))
    policy = k8s.V1PodFailurePolicy(rules=[
        k8s.V1PodFailurePolicyRule(action="Ignore", on_pod_conditions=[
            k8s.V1PodFailurePolicyOnPodConditionsPattern(type="DisruptionTarget", status="True")]),
        k8s.V1PodFailurePolicyRule(action="FailJob", on_exit_codes=k8s.V1PodFailurePolicyOnExitCodesRequirement(
            container_name=CONTAINER, operator="In", values=[BAD_INPUT_EXIT])),
    ])
    job = k8s.V1Job(
        api_version="batch/v1", kind="Job",
        metadata=k8s.V1ObjectMeta(name=name, namespace=request.namespace, labels=labels),
        spec=k8s.V1JobSpec(
            backoff_limit=request.backoff_limit, pod_failure_policy=policy,
            completions=request.nodes if multi else None, parallelism=request.nodes if multi else None,
            completion_mode="Indexed" if multi else None,
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=pod),
        ),
    )
    if not multi:
        return [job]
    headless = k8s.V1Service(
        api_version="v1", kind="Service",
        metadata=k8s.V1ObjectMeta(name=service, namespace=request.namespace, labels=labels),
        spec=k8s.V1ServiceSpec(cluster_ip="None", selector={"job-name": name},
                               ports=[k8s.V1ServicePort(name="rdzv", port=RENDEZVOUS_PORT, target_port=RENDEZVOUS_PORT)]),
    )
    return [headless, job]


def _container_args(request: K8sRequest, name: str, service: str) -> list[str]:
    """What the image's entry point (runner.container) gets: the train command and its torchrun shape."""
    args = ["train"]
    if request.nodes > 1:
        args += ["--nproc", str(max(request.gpus_per_node, 1)), "--nnodes", str(request.nodes), "--node-rank", "$(JOB_COMPLETION_INDEX)",
                 "--master-addr", f"{name}-0.{service}", "--master-port", str(RENDEZVOUS_PORT)]
    elif request.gpus_per_node > 1:
        args += ["--nproc", str(request.gpus_per_node)]
    if request.set_words:
        args += ["--set", *request.set_words]
    return args


def _volume(k8s: Any, name: str, claim: str | None, read_only: bool) -> Any:
    if claim:
        return k8s.V1Volume(name=name, persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim, read_only=read_only))
    return k8s.V1Volume(name=name, empty_dir=k8s.V1EmptyDirVolumeSource())


def to_yaml(objects: list[Any]) -> str:
    """The objects as one multi-document YAML, field names as the API spells them."""
    import yaml
    from kubernetes.client import ApiClient

    api = ApiClient()
    documents = [api.sanitize_for_serialization(obj) for obj in objects]
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


def from_yaml(text: str) -> list[Any]:
    """Back into client models (V1Job, V1Service) through the client's own deserializer: proves the shape."""
    import yaml
    from kubernetes.client import ApiClient

    api = ApiClient()
    objects = []
    for document in yaml.safe_load_all(text):
        kind = {"Job": "V1Job", "Service": "V1Service"}[document["kind"]]

        class Response:
            data = json.dumps(document)

        objects.append(api.deserialize(Response(), kind))
    return objects
