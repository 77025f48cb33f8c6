"""Two nodes for real, without a cluster: the Indexed Job that ``mmar k8s --nodes 2`` renders, run as it would run.

Each completion index becomes one container of our image, started with the pod's own args (the
image's entry point, since the pod names no command), its environment (``JOB_COMPLETION_INDEX``
filled in from the index, ``$(...)`` references expanded as the kubelet does), its volumes and
security settings, on a user-defined Docker network where the headless Service's per-pod names
resolve to the right container and each container's host name is its pod's. CPU and gloo stand in
for the GPUs. The job must train to the weights of ``mmar train --nproc 2`` on one host, and a
SIGTERM to one pod, then a restart of both, must resume bit for bit. Anything that drifts between
the rendered manifest and the image's entry point (an option renamed, a port, a host name) fails here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.errors import PREEMPTED_EXIT
from runner.k8s import K8sRequest, render, to_yaml
from tests.conftest import TINY_SET
from tests.image.conftest import SPLEEN_TAG
from tests.image.engine import docker
from tests.k8s_pod import pod_args, pod_environment

pytestmark = [pytest.mark.slow, pytest.mark.docker]

# Epochs enough after the "epoch 2" the SIGTERM waits for that it lands well before the last one even on a fast machine:
# one acted on at the end of the last epoch lets the run finish (exit 0, nothing to resume) instead of stopping it.
SETS = (*[word for word in TINY_SET if not word.startswith("epochs=")], "epochs=12")
SUBNET = "172.31.{}.0/24"


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    """The Service and the Job exactly as a user would ``kubectl apply`` them (YAML, read back)."""
    request = K8sRequest("spleen_ct_seg", SPLEEN_TAG, nodes=2, gpus_per_node=1, data_pvc="data", out_pvc="out", set_words=SETS)
    documents = list(yaml.safe_load_all(to_yaml(render(request))))
    return {document["kind"]: document for document in documents}


@pytest.fixture
def network(docker_host: str) -> Iterator[tuple[str, str]]:
    """A user-defined network of our own (name, subnet prefix), removed afterwards."""
    name = f"mmar-test-{uuid.uuid4().hex[:8]}"
    octet = 100 + int(uuid.uuid4().hex[:2], 16) % 100
    docker(docker_host, "network", "create", "--driver", "bridge", "--internal", "--subnet", SUBNET.format(octet), name)
    try:
        yield name, f"172.31.{octet}"
    finally:
        docker(docker_host, "network", "rm", name, check=False)


def shared_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # the pods' user (uid 10001) writes here
    return path


class Pods:
    """The Job's pods as containers: started, signalled, waited for, removed."""

    def __init__(self, host: str, job: dict[str, Any], network: tuple[str, str], claims: dict[str, Path]) -> None:
        self.host, self.network, self.claims = host, network, claims
        self.service = job["Service"]["metadata"]["name"]
        self.job_name = job["Job"]["metadata"]["name"]
        self.spec = job["Job"]["spec"]
        self.pod = self.spec["template"]["spec"]
        self.names: list[str] = []

    def ip(self, index: int) -> str:
        return f"{self.network[1]}.{10 + index}"

    def hostname(self, index: int) -> str:
        return f"{self.job_name}-{index}"  # an Indexed Job's pod host name

    def start(self) -> list[str]:
        assert self.spec["completionMode"] == "Indexed" and self.pod["subdomain"] == self.service
        self.names = [self._start(index) for index in range(self.spec["completions"])]
        return self.names

    def _start(self, index: int) -> str:
        (container,) = self.pod["containers"]
        assert not container.get("command"), "the pod runs the image's entry point; a command would bypass it"
        env = pod_environment(container, index)
        words = ["run", "-d", "--name", f"{self.hostname(index)}-{uuid.uuid4().hex[:6]}", "--hostname", self.hostname(index),
                 "--network", self.network[0], "--ip", self.ip(index)]
        for other in range(self.spec["completions"]):  # the headless Service's per-pod DNS names
            words += ["--add-host", f"{self.hostname(other)}.{self.service}:{self.ip(other)}"]
        words += self._security(container) + self._volumes(container)
        for name, value in env.items():
            words += ["-e", f"{name}={value}"]
        name = words[3]
        docker(self.host, *words, container["image"], *pod_args(container, env))
        return name

    def _security(self, container: dict[str, Any]) -> list[str]:
        context, pod = container["securityContext"], self.pod["securityContext"]
        words = ["--user", f"{context['runAsUser']}:{context['runAsGroup']}", "--group-add", str(pod["fsGroup"])]
        words += ["--read-only"] if context.get("readOnlyRootFilesystem") else []
        words += ["--security-opt", "no-new-privileges"] if context.get("allowPrivilegeEscalation") is False else []
        return words + [f"--cap-drop={cap}" for cap in context["capabilities"]["drop"]]

    def _volumes(self, container: dict[str, Any]) -> list[str]:
        volumes = {volume["name"]: volume for volume in self.pod["volumes"]}
        words = []
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "persistentVolumeClaim" in volume:
                read_only = ":ro" if mount.get("readOnly") or volume["persistentVolumeClaim"].get("readOnly") else ""
                words += ["-v", f"{self.claims[volume['persistentVolumeClaim']['claimName']]}:{mount['mountPath']}{read_only}"]
            elif volume.get("emptyDir", {}).get("medium") == "Memory":
                words += ["--tmpfs", f"{mount['mountPath']}:size=1g"]
            else:
                raise AssertionError(f"volume {mount['name']}: the test knows PVCs and memory emptyDirs only")
        return words

    def wait(self, timeout: int = 900) -> list[int]:
        return [int(docker(self.host, "wait", name, timeout=timeout).stdout.strip()) for name in self.names]

    def logs(self, index: int) -> str:
        done = docker(self.host, "logs", self.names[index], check=False)
        return f"{done.stdout}{done.stderr}"

    def remove(self) -> None:
        for name in self.names:
            docker(self.host, "rm", "-f", name, check=False)


def weights(out: Path) -> str:
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["world_size"] == 2
    return str(manifest["weights_digest"])


def one_host_digest(host: str, data: Path, out: Path) -> str:
    """``mmar train --nproc 2`` in one container of the same image: the reference."""
    docker(host, "run", "--rm", "--network", "none", "--read-only", "--shm-size", "1g", "-v", f"{data}:/data:ro",
           "-v", f"{out}:/out", SPLEEN_TAG, "train", "--nproc", "2", "--set", *SETS, timeout=900)
    return weights(out)


def test_the_rendered_indexed_job_trains_like_two_processes_on_one_host_and_resumes(
        docker_host: str, spleen_image: str, job: dict[str, Any], network: tuple[str, str], data: Path, tmp_path: Path) -> None:
    reference = one_host_digest(docker_host, data, shared_folder(tmp_path / "one-host"))

    whole = Pods(docker_host, job, network, {"data": data, "out": shared_folder(tmp_path / "two-pods")})
    try:
        whole.start()
        codes = whole.wait()
        assert codes == [0, 0], f"{codes}\n--- pod 0:\n{whole.logs(0)[-3000:]}\n--- pod 1:\n{whole.logs(1)[-3000:]}"
    finally:
        whole.remove()
    assert weights(tmp_path / "two-pods") == reference
    assert json.loads((tmp_path / "two-pods" / "run_manifest.json").read_text())["image"] == SPLEEN_TAG  # the pod's MMAR_IMAGE

    out = shared_folder(tmp_path / "preempted")
    first = Pods(docker_host, job, network, {"data": data, "out": out})
    try:
        first.start()
        deadline = time.time() + 600
        while "epoch 2" not in first.logs(0) and time.time() < deadline:
            time.sleep(0.5)
        docker(docker_host, "kill", "--signal", "TERM", first.names[1])  # one pod is preempted
        codes = first.wait()
        logs = f"--- pod 0:\n{first.logs(0)[-3000:]}\n--- pod 1:\n{first.logs(1)[-3000:]}"
    finally:
        first.remove()
    assert codes == [PREEMPTED_EXIT, PREEMPTED_EXIT], f"{codes}\n{logs}"
    stopped = json.loads((out / "run_manifest.json").read_text())
    assert stopped["status"] == "preempted", logs

    again = Pods(docker_host, job, network, {"data": data, "out": out})
    try:
        again.start()
        codes = again.wait()
        logs = f"--- pod 0:\n{again.logs(0)[-3000:]}\n--- pod 1:\n{again.logs(1)[-3000:]}"
    finally:
        again.remove()
    assert codes == [0, 0], f"{codes}\n{logs}"
    resumed = json.loads((out / "run_manifest.json").read_text())
    assert resumed.get("resumed_from"), logs
    assert weights(out) == reference
