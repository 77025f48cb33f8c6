"""Before training in a container: is this host able to run what the config asks for? Answered in seconds.

Checks, in order: a GPU is visible when the config wants one and the image's torch is a CUDA build;
the driver is new enough for torch's CUDA; the GPU's architecture is one this torch was compiled
for. Each failure is one message saying what to change (docker run flags, --set use_gpu=False).

The default (cuda flavour) image also trains on a host with no GPU, on CPU, when the config says
``use_gpu: false`` (``--set use_gpu=False``): it says so. A config that asks for a GPU is refused
instead of quietly taking hours on the CPU: a missing ``--gpus all`` is the usual cause.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from runner.errors import HostError

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class HostFacts:
    """What the checks need, gathered from torch (a separate type so tests can describe any host)."""

    torch_cuda: str | None  # "12.8" for a CUDA build of torch, None for a CPU build
    gpu_count: int
    capability: tuple[int, int] | None  # of GPU 0
    gpu_name: str | None
    arch_list: list[str]
    driver_cuda: tuple[int, int] | None  # the CUDA version the driver supports


def gather(torch: Any) -> HostFacts:
    cuda = torch.version.cuda
    count = torch.cuda.device_count() if cuda else 0
    capability = torch.cuda.get_device_capability(0) if count else None
    name = torch.cuda.get_device_name(0) if count else None
    arch_list = list(torch.cuda.get_arch_list()) if cuda else []
    driver = None
    if cuda:
        try:
            version = int(torch._C._cuda_getDriverVersion())  # e.g. 12040; 0 when there is no driver at all
            driver = (version // 1000, (version % 1000) // 10) if version > 0 else None
        except (AttributeError, RuntimeError):
            driver = None
    return HostFacts(cuda, count, capability, name, arch_list, driver)


def check_host(facts: HostFacts, use_gpu: bool) -> str:
    """The device the run will use ("cuda" or "cpu"); raises HostError when the host cannot do what is asked."""
    if facts.torch_cuda is None:
        if use_gpu:
            logger.info("this image's torch is a CPU build: training on CPU")
        return "cpu"
    if not use_gpu:
        if facts.gpu_count == 0:
            logger.info("this image's torch is a CUDA %s build and no GPU is visible: training on CPU (use_gpu: false)", facts.torch_cuda)
        return "cpu"
    if facts.gpu_count == 0:
        raise HostError(f"the config asks for a GPU (use_gpu: true) and none is visible in the container "
                        f"(this image's torch is a CUDA {facts.torch_cuda} build)",
                        hint="docker run --gpus all ... (with the NVIDIA Container Toolkit), or --set use_gpu=False to train on CPU")
    if facts.driver_cuda is not None and facts.driver_cuda[0] < int(facts.torch_cuda.split(".")[0]):
        raise HostError(f"the NVIDIA driver supports CUDA {facts.driver_cuda[0]}.{facts.driver_cuda[1]}, "
                        f"this image's torch needs CUDA {facts.torch_cuda}",
                        hint=f"update the host's NVIDIA driver to one for CUDA {facts.torch_cuda.split('.')[0]}.x, or --set use_gpu=False")
    major, minor = facts.capability or (0, 0)
    if not _supported(major, minor, facts.arch_list):
        raise HostError(f"{facts.gpu_name} is compute capability {major}.{minor}; this torch was built for "
                        f"{' '.join(facts.arch_list) or 'no listed architecture'}",
                        hint="build the image with a torch whose CUDA supports this GPU, or --set use_gpu=False")
    return "cuda"


def _supported(major: int, minor: int, arch_list: list[str]) -> bool:
    """sm_XY built for this exact GPU, or the same major with a lower minor (binary compatible), or PTX to JIT from."""
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        if not digits.isdigit():
            continue
        a_major, a_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return not arch_list  # an unknown list is not evidence against
