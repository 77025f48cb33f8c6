"""``mmar k8s``: Kubernetes manifests for an MMAR's or a MONAI bundle's image, built with the official client's models.

One node is a plain Job. N nodes are an Indexed Job (completions = parallelism = N, one pod per
node) plus a headless Service, so pod 0 is reachable at ``<job>-0.<service>`` for torchrun's
rendezvous. Both carry the same safety rules:

* ``restartPolicy: Never`` and a ``podFailurePolicy`` that ignores preemption (the
  ``DisruptionTarget`` pod condition: the pod is restarted and resumes from its checkpoint) and
  fails the Job at once on exit code 2 (bad input: a retry cannot help);
* a termination grace period long enough to write a checkpoint after SIGTERM;
* ``/dev/shm`` as a memory emptyDir (DataLoader workers share batches through it);
* GPUs as ``nvidia.com/gpu`` limits; data and output volumes from PVCs;
* Pods that pass the Pod Security Standard "restricted": non-root (uid 10001), no privilege
  escalation, every capability dropped, the runtime's default seccomp profile, a read-only root
  file system, no service-account token; CPU and memory requests equal to limits (a Guaranteed
  pod, never BestEffort), sized per GPU unless given, with the /dev/shm emptyDir inside the memory;
* names checked before anything is written: namespace and PVC names as Kubernetes requires, the
  image reference, and label values derived from the MMAR's name made valid (the full name is kept
  in an annotation).

A bundle's Job is the same Job. Its labels name the format, the bundle and its version, and more
than one process trains with the bundle's own ``configs/multi_gpu_train.json`` merged over its
train config (as MONAI's zoo runs it under torchrun); a bundle without that file is refused for
more than one process (exit 2), since its train config alone would not wrap the network in DDP.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import BAD_INPUT_EXIT, ConfigError, ConfigIssue, MmarRunnerError
from runner.run_spec import DEFAULT_MASTER_PORT, NodeLayout, RunSpec, image_args
from runner.tracking.options import TrackingOptions

CONTAINER = "mmar"
RENDEZVOUS_PORT = DEFAULT_MASTER_PORT
IMAGE_MMAR = "/opt/mmar"  # where the image keeps its MMAR (the entry point names it)
RUN_AS = 10001  # the image's user
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label, at most 63 characters
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # at most 253 characters
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")  # at most 63 characters
# registry/name[:tag][@sha256:digest], the reference grammar of the distribution spec, lower-case path components
IMAGE_REFERENCE = re.compile(r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                             r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
CPUS_PER_GPU, CPUS_WITHOUT_GPU = 8, 4
LOCK_WAIT_MARGIN_S = 60  # beyond the grace period, for the old pod's file system to let go of the lock
MEMORY_GI_PER_GPU, MEMORY_GI_WITHOUT_GPU = 32, 16
MULTI_GPU_CONFIG = "configs/multi_gpu_train.json"  # a MONAI bundle's config for torchrun (DDP, one GPU per process)


@dataclass(frozen=True)
class K8sRequest:
    mmar_name: str
    image: str
    nodes: int = 1
    gpus_per_node: int = 1
    data_pvc: str | None = None
    out_pvc: str | None = None
    namespace: str | None = None
    shm_size: str | None = None  # default: a quarter of the memory
    grace_seconds: int = 600
    backoff_limit: int = 3
    set_words: tuple[str, ...] = ()
    cpus: str | None = None  # default: 8 per GPU (4 without)
    memory: str | None = None  # default: 32Gi per GPU (16Gi without)
    tracking_uri: str | None = None  # MLflow: the pods log there (MLFLOW_TRACKING_URI)
    tracking_secret: str | None = None  # a Secret with MLflow's credentials (MLFLOW_TRACKING_TOKEN, ..._USERNAME/_PASSWORD)
    source_format: str = "mmar"  # "mmar" or "bundle" (a MONAI bundle: labelled as one, with its version)
    version: str | None = None  # a bundle's metadata version
    config: str | None = None  # -c for the run (a bundle's train config and multi_gpu_train.json)

    def cpu_quantity(self) -> str:
        return self.cpus or str(CPUS_PER_GPU * self.gpus_per_node if self.gpus_per_node else CPUS_WITHOUT_GPU)

    def memory_quantity(self) -> str:
        return self.memory or f"{MEMORY_GI_PER_GPU * self.gpus_per_node if self.gpus_per_node else MEMORY_GI_WITHOUT_GPU}Gi"

    def shm_quantity(self) -> str:
        return self.shm_size or f"{max(1, to_bytes(self.memory_quantity()) // 4 // 2**30)}Gi"


def to_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (``32Gi``, ``500M``) in bytes."""
    units = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 0.001}
    match = QUANTITY.match(quantity)
    if not match:
        raise ValueError(quantity)
    number = quantity[: len(quantity) - len(match.group(2) or "")]
    return int(float(number) * units[match.group(2) or ""])


def validate(request: K8sRequest) -> None:
    """Every name and size, with the rule it breaks: exit 2 before anything is printed."""
    issues = []

    def problem(option: str, value: str, rule: str) -> None:
        issues.append(ConfigIssue(option, "", f"{value!r} is not {rule}"))

    if request.namespace is not None and not (len(request.namespace) <= 63 and DNS_LABEL.match(request.namespace)):
        problem("--namespace", request.namespace, "a valid namespace: at most 63 lower-case letters, digits and '-', "
                "starting and ending with a letter or digit (RFC 1123 label)")
    for option, claim in (("--data-pvc", request.data_pvc), ("--out-pvc", request.out_pvc)):
        if claim is not None and not (len(claim) <= 253 and DNS_SUBDOMAIN.match(claim)):
            problem(option, claim, "a valid PersistentVolumeClaim name: at most 253 lower-case letters, digits, '-' and '.' "
                    "(RFC 1123 subdomain)")
    if not IMAGE_REFERENCE.match(request.image) or len(request.image) > 255:
        problem("--image", request.image, "an image reference like registry.example/team/name:tag (lower-case repository, "
                "optional :tag and @sha256:digest)")
    if request.tracking_secret is not None and not (len(request.tracking_secret) <= 253 and DNS_SUBDOMAIN.match(request.tracking_secret)):
        problem("--tracking-secret", request.tracking_secret, "a valid Secret name (RFC 1123 subdomain)")
    if request.tracking_secret is not None and request.tracking_uri is None:
        issues.append(ConfigIssue("--tracking-secret", "", "holds credentials for a tracking server, and no --tracking-uri is given"))
    for option, value in (("--cpus", request.cpu_quantity()), ("--memory", request.memory_quantity()), ("--shm-size", request.shm_size)):
        if value is not None and not QUANTITY.match(value):
            problem(option, value, "a Kubernetes quantity such as 8, 500m, 32Gi")
    if not issues and to_bytes(request.shm_quantity()) >= to_bytes(request.memory_quantity()):
        issues.append(ConfigIssue("--shm-size", "", f"/dev/shm ({request.shm_quantity()}) is memory of the pod and must be less "
                                  f"than its memory ({request.memory_quantity()})", hint="raise --memory or lower --shm-size"))
    if issues:
        raise ConfigError(issues)


def label_value(text: str) -> str:
    """A valid label value from any text: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def job_name(mmar_name: str) -> str:
    """A DNS-1123 label from the MMAR's name: ``mmar-spleen-ct-seg``."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"mmar-{mmar_name}".lower()).strip("-")
    return name[:52].rstrip("-")  # room for the pod suffix Kubernetes adds


def bundle_train_configs(root: Path, nodes: int, gpus_per_node: int) -> str | None:
    """``-c`` for a bundle's Job: None for one process; for more, its train config then ``multi_gpu_train.json``.

    Raises:
        MmarRunnerError: more than one process and the bundle has no ``configs/multi_gpu_train.json`` (exit 2).
    """
    from runner.bundle.layout import bundle_train_config

    processes = nodes * max(gpus_per_node, 1)
    if processes <= 1:
        return None
    if not (root / MULTI_GPU_CONFIG).is_file():
        raise MmarRunnerError(f"{root}: {processes} processes (--nodes {nodes} x --gpus-per-node {gpus_per_node}) need the bundle's "
                              f"{MULTI_GPU_CONFIG}, which it does not have",
                              hint="add configs/multi_gpu_train.json (as MONAI's model zoo bundles have it: DDP and one GPU per "
                                   "process), or run one process: --nodes 1 --gpus-per-node 1")
    train = bundle_train_config(root)
    train_name = train.relative_to(root).as_posix() if train is not None else "configs/train.json"
    return f"{train_name},{MULTI_GPU_CONFIG}"


def render(request: K8sRequest) -> list[Any]:
    """The V1Job (and, for several nodes, the V1Service) for ``request``."""
    if request.nodes < 1 or request.gpus_per_node < 0:
        raise MmarRunnerError("--nodes must be >= 1 and --gpus-per-node >= 0")
    validate(request)
    from kubernetes import client as k8s

    name = job_name(request.mmar_name)
    labels = {"app.kubernetes.io/name": "mmar-runner", "app.kubernetes.io/instance": name}
    if request.source_format == "bundle":
        labels |= {"mmar-runner/format": "bundle", "mmar-runner/bundle": label_value(request.mmar_name),
                   "mmar-runner/bundle-version": label_value(request.version or "unknown")}
        annotations = {"mmar-runner/bundle-name": request.mmar_name}
    else:
        labels["mmar-runner/mmar"] = label_value(request.mmar_name)
        annotations = {"mmar-runner/mmar-name": request.mmar_name}
    multi = request.nodes > 1
    service = f"{name}-rdzv"
    args = _container_args(request, name, service)
    # A replacement pod waits for /out while the pod it replaces writes its resume checkpoint (runner.workflow.lock).
    env = [k8s.V1EnvVar(name="OMP_NUM_THREADS", value="1"), k8s.V1EnvVar(name="MMAR_IMAGE", value=request.image),
           k8s.V1EnvVar(name="MMAR_LOCK_WAIT_S", value=str(request.grace_seconds + LOCK_WAIT_MARGIN_S))]
    if request.tracking_uri:
        env.append(k8s.V1EnvVar(name="MLFLOW_TRACKING_URI", value=request.tracking_uri))
    if multi:
        env.append(k8s.V1EnvVar(name="JOB_COMPLETION_INDEX", value_from=k8s.V1EnvVarSource(
            field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.annotations['batch.kubernetes.io/job-completion-index']"))))
    limits = {"cpu": request.cpu_quantity(), "memory": request.memory_quantity()}
    if request.gpus_per_node:
        limits["nvidia.com/gpu"] = str(request.gpus_per_node)
    container = k8s.V1Container(
        name=CONTAINER, image=request.image, args=args, env=env,
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=request.tracking_secret))] if request.tracking_secret else None,
        resources=k8s.V1ResourceRequirements(limits=limits, requests=dict(limits)),  # requests == limits: a Guaranteed pod
        ports=[k8s.V1ContainerPort(container_port=RENDEZVOUS_PORT, name="rdzv")] if multi else None,
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path="/data", read_only=True),
                       k8s.V1VolumeMount(name="out", mount_path="/out"),
                       k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm")],
        security_context=k8s.V1SecurityContext(run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS,
                                               read_only_root_filesystem=True, allow_privilege_escalation=False,
                                               capabilities=k8s.V1Capabilities(drop=["ALL"]),
                                               seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault")),
    )
    volumes = [
        _volume(k8s, "data", request.data_pvc, read_only=True),
        _volume(k8s, "out", request.out_pvc, read_only=False),
        k8s.V1Volume(name="dshm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit=request.shm_quantity())),
    ]
    pod = k8s.V1PodSpec(containers=[container], volumes=volumes, restart_policy="Never",
                        termination_grace_period_seconds=request.grace_seconds, subdomain=service if multi else None,
                        automount_service_account_token=False,
                        security_context=k8s.V1PodSecurityContext(fs_group=RUN_AS, run_as_non_root=True, run_as_user=RUN_AS,
                                                                  seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault")))
    policy = k8s.V1PodFailurePolicy(rules=[
        k8s.V1PodFailurePolicyRule(action="Ignore", on_pod_conditions=[
            k8s.V1PodFailurePolicyOnPodConditionsPattern(type="DisruptionTarget", status="True")]),
        k8s.V1PodFailurePolicyRule(action="FailJob", on_exit_codes=k8s.V1PodFailurePolicyOnExitCodesRequirement(
            container_name=CONTAINER, operator="In", values=[BAD_INPUT_EXIT])),
    ])
    job = k8s.V1Job(
        api_version="batch/v1", kind="Job",
        metadata=k8s.V1ObjectMeta(name=name, namespace=request.namespace, labels=labels, annotations=annotations),
        spec=k8s.V1JobSpec(
            backoff_limit=request.backoff_limit, pod_failure_policy=policy,
            completions=request.nodes if multi else None, parallelism=request.nodes if multi else None,
            completion_mode="Indexed" if multi else None,
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels, annotations=annotations), spec=pod),
        ),
    )
    if not multi:
        return [job]
    headless = k8s.V1Service(
        api_version="v1", kind="Service",
        metadata=k8s.V1ObjectMeta(name=service, namespace=request.namespace, labels=labels, annotations=annotations),
        spec=k8s.V1ServiceSpec(cluster_ip="None", selector={"job-name": name},
                               ports=[k8s.V1ServicePort(name="rdzv", port=RENDEZVOUS_PORT, target_port=RENDEZVOUS_PORT)]),
    )
    return [headless, job]


def _container_args(request: K8sRequest, name: str, service: str) -> list[str]:
    """What the image's entry point (runner.container) gets: the train command and its torchrun shape."""
    nodes = NodeLayout(request.nodes, "$(JOB_COMPLETION_INDEX)", f"{name}-0.{service}", RENDEZVOUS_PORT) if request.nodes > 1 else NodeLayout()
    processes = max(request.gpus_per_node, 1) if request.nodes > 1 else request.gpus_per_node or None
    tracking = TrackingOptions("mlflow") if request.tracking_uri else TrackingOptions()  # the URI comes from the environment
    return image_args(RunSpec("train", IMAGE_MMAR, config=request.config, sets=request.set_words, processes=processes, nodes=nodes,
                              tracking=tracking))


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
