"""One process per device through torchrun: launch, process group, DDP model, per-rank data.

``mmar train --nproc N`` (or ``multi_gpu: true``, one process per visible GPU) re-runs the same
command under ``python -m torch.distributed.run``; each worker then finds WORLD_SIZE/RANK/LOCAL_RANK
in its environment. NCCL on GPUs, gloo on CPU. Rank 0 alone writes checkpoints and the manifest;
handlers with ``"rank": 0`` are built on rank 0 only (see Builder).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from runner.errors import INTERRUPTED_EXIT, PREEMPTED_EXIT, ConfigError, ConfigIssue
from runner.run_spec import RunSpec, torchrun_argv
from runner.workflow.torchrun_output import TorchrunOutput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job; world_size 1 means not distributed."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> DistContext:
    return DistContext(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def processes_wanted(nproc: int | None, multi_gpu: bool, config_file: str) -> int:
    """How many processes this node should run: --nproc wins; multi_gpu means one per visible GPU."""
    if nproc is not None:
        return nproc
    if not multi_gpu:
        return 1
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError([ConfigIssue(config_file, "multi_gpu", "multi_gpu is true and no GPU is visible",
                                       hint="use --nproc N to train with N CPU processes (gloo), or --set multi_gpu=False")])
    return count


def launch(spec: RunSpec) -> int:
    """Run ``spec`` under torchrun on this node; return the exit code to end with.

    That is the failing worker's (2 for bad input), not torchrun's 1, and its error is printed once
    without torchrun's report (:mod:`runner.workflow.torchrun_output`); 75 when SIGTERM stopped the job,
    130 when Ctrl-C did.
    """
    nnodes = spec.nodes.nnodes
    command = torchrun_argv(spec, sys.executable, _free_port())
    env = {**os.environ, "PYTHONHASHSEED": "0", "MMAR_NO_REEXEC": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if nnodes == 1:
        # One node talks over loopback: gloo would otherwise pick the interface of the host name, which a
        # container run with --network none does not have.
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    logger.info("torchrun: %d process(es) per node, %d node(s)", spec.processes or 1, nnodes)
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
    output = TorchrunOutput(_to_stderr)
    reader = threading.Thread(target=lambda: [output.feed(line) for line in child.stderr or ()], daemon=True)
    reader.start()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        # Stay alive while the workers finish their step and write the resume checkpoint. SIGTERM may
        # come to this process alone (a container's PID 1): pass it on. Ctrl-C reaches the terminal's
        # whole process group, torchrun and its workers included: passing it on would be a second one.
        received.append(signum)
        if signum == signal.SIGTERM:
            child.send_signal(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    reader.join()
    return stopped_exit_code(output.finish(child.returncode), received)


def stopped_exit_code(code: int, received: list[int]) -> int:
    """The launcher's exit code: 130 for a job Ctrl-C stopped, 75 for one SIGTERM stopped, else the workers'."""
    if code == 0 or not received:
        return code
    return INTERRUPTED_EXIT if signal.SIGINT in received else PREEMPTED_EXIT


def _to_stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def init_process_group(context: DistContext) -> Any:
    """The device of this rank; starts the process group (NCCL on CUDA, gloo on CPU)."""
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(context.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://")
    import ignite.distributed as idist

    # ignite sets up its view of the group lazily, with a collective new_group(), on the first rank
    # query; a rank-0-only handler (CheckpointSaver) would then wait forever for the other ranks.
    idist.sync()
    idist.get_rank()
    return torch.device(f"cuda:{context.local_rank}" if cuda else "cpu")


def wrap_model(model: Any, context: DistContext) -> Any:
    from torch.nn.parallel import DistributedDataParallel

    if not context.distributed or isinstance(model, DistributedDataParallel):
        return model
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def distributed_sampler(dataset: Any, context: DistContext, shuffle: bool, seed: int) -> Any:
    """A seeded per-rank sampler; training pads to equal shards, evaluation does not (every case once)."""
    from monai.data import DistributedSampler

    return DistributedSampler(dataset, even_divisible=shuffle, num_replicas=context.world_size, rank=context.rank,
                              shuffle=shuffle, seed=seed)


def barrier_and_destroy(context: DistContext) -> None:
    if not context.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
