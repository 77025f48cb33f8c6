"""One description of a run, and one renderer per place a run is started from.

The CLI parses ``mmar train ...`` into a :class:`RunSpec`. Everything that starts a run again
renders it from that one value: the workers torchrun starts (:func:`worker_argv`, :func:`torchrun_argv`),
the image's entry point for ``docker run`` and Kubernetes pods (:func:`image_args`), ``mmar verify``'s
two runs, and the manifest's reproduce command (:func:`reproduce_command`). A renderer that forgets
an option forgets it everywhere at once, which the tests see; two hand-built command lines could
drift apart silently.

Pure: no torch, no MONAI, no typer.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from runner.tracking.options import TrackingOptions, option_words

SEED_KEY = "determinism.random_seed"
FINETUNE_SET = "dont_load_ckpt_model=False"  # finetune is train with the checkpoint loaded, as Clara's finetune.sh
DEFAULT_MASTER_PORT = 29500
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class NodeLayout:
    """Where this node sits in a multi-node torchrun job (one node: the defaults).

    ``node_rank`` may be a reference the platform fills in, e.g. ``$(JOB_COMPLETION_INDEX)`` in a pod.
    """

    nnodes: int = 1
    node_rank: int | str = 0
    master_addr: str | None = None
    master_port: int = DEFAULT_MASTER_PORT


@dataclass(frozen=True)
class RunSpec:
    """What to run: command, MMAR, config files, ``--set`` words, processes and nodes, run options."""

    command: str
    mmar: str
    config: str | None = None
    environment: str | None = None
    sets: tuple[str, ...] = ()
    processes: int | None = None  # per node; None: one, or one per GPU with multi_gpu
    nodes: NodeLayout = field(default_factory=NodeLayout)
    progress: bool = True
    fresh: bool = False
    lock_wait_s: float = 0.0
    max_iterations: int | None = None
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    image: str | None = None  # the container image the run executes in (MMAR_IMAGE), for the manifest; None on a host
    data_cache: str = ""  # the data digest cache (MMAR_DATA_CACHE, read by the CLI; each process reads it again); "": none

    @property
    def config_sets(self) -> tuple[str, ...]:
        """The ``--set`` words the config is loaded with (finetune loads the checkpoint first)."""
        return (FINETUNE_SET, *self.sets) if self.command == "finetune" else self.sets

    def with_sets(self, *words: str) -> RunSpec:
        """The same run with more ``--set`` words, which win over earlier ones."""
        return replace(self, sets=(*self.sets, *words))

    @property
    def launches_workers(self) -> bool:
        """Whether this process starts torchrun instead of training itself."""
        return (self.processes or 1) > 1 or self.nodes.nnodes > 1


def _file_words(spec: RunSpec) -> list[str]:
    words = ["-c", spec.config] if spec.config else []
    return words + (["-e", spec.environment] if spec.environment else [])


def _option_words(spec: RunSpec) -> list[str]:
    words = [] if spec.progress else ["--no-progress"]
    words += ["--fresh"] if spec.fresh else []
    words += ["--lock-wait", f"{spec.lock_wait_s:g}"] if spec.lock_wait_s else []
    words += ["--max-iterations", str(spec.max_iterations)] if spec.max_iterations else []
    return words + option_words(spec.tracking)


def _layout_words(spec: RunSpec) -> list[str]:
    words = ["--nproc", str(spec.processes)] if spec.processes is not None and (spec.processes > 1 or spec.nodes.nnodes > 1) else []
    if spec.nodes.nnodes > 1:
        words += ["--nnodes", str(spec.nodes.nnodes), "--node-rank", str(spec.nodes.node_rank)]
        words += ["--master-addr", spec.nodes.master_addr] if spec.nodes.master_addr else []
        words += ["--master-port", str(spec.nodes.master_port)]
    return words


def _set_words(sets: Sequence[str]) -> list[str]:
    return ["--set", *sets] if sets else []


def mmar_argv(spec: RunSpec) -> list[str]:
    """The words after ``mmar`` that start this run, launcher options included."""
    return [spec.command, spec.mmar, *_file_words(spec), *_option_words(spec), *_layout_words(spec), *_set_words(spec.sets)]


def worker_argv(spec: RunSpec) -> list[str]:
    """What each process torchrun starts runs (after ``python -m runner``): the run itself, no launcher options."""
    worker = replace(spec, progress=False, processes=None, nodes=NodeLayout())
    return [worker.command, worker.mmar, *_file_words(worker), *_option_words(worker), *_set_words(worker.sets)]


def torchrun_argv(spec: RunSpec, python: str, local_port: int) -> list[str]:
    """The torchrun command for this node: static rendezvous (loopback on one node, ``master_addr`` on several)."""
    nodes = spec.nodes
    words = [python, "-m", "torch.distributed.run", f"--nproc-per-node={spec.processes or 1}"]
    if nodes.nnodes > 1:
        words += [f"--nnodes={nodes.nnodes}", f"--node-rank={nodes.node_rank}", f"--master-addr={nodes.master_addr}",
                  f"--master-port={nodes.master_port}"]
    else:
        # Not --standalone: that one resolves the host name, which a container run with --network none cannot.
        words += ["--nnodes=1", "--node-rank=0", f"--master-addr={LOOPBACK}", f"--master-port={local_port}"]
    return [*words, "-m", "runner", *worker_argv(spec)]


def image_args(spec: RunSpec) -> list[str]:
    """What the image's entry point gets (``docker run IMAGE ...``, a pod's ``args``): the MMAR is the image's own.

    The entry point (:mod:`runner.container`) adds the MMAR's path and the /out and /data defaults.
    """
    argv = mmar_argv(replace(spec, progress=True))
    return [argv[0], *argv[2:]]


def reproduce_argv(spec: RunSpec, seed: int, world_size: int = 1) -> list[str]:
    """The command line that repeats this run on one host: the seed made explicit, all processes here.

    Several nodes become as many processes on one host (the same world size trains to the same
    weights); progress, lock waiting and ``--fresh`` are how a run was watched, not what it computed.
    """
    sets = [word for word in spec.sets if word.split("=", 1)[0].strip() != SEED_KEY]
    one_host = replace(spec, progress=True, fresh=False, lock_wait_s=0.0, nodes=NodeLayout(), tracking=TrackingOptions(),
                       processes=world_size if world_size > 1 else None, sets=(*sets, f"{SEED_KEY}={seed}"))
    return ["mmar", *mmar_argv(one_host)]


def reproduce_command(spec: RunSpec, seed: int, world_size: int = 1) -> str:
    """:func:`reproduce_argv` as one shell line."""
    return shlex.join(reproduce_argv(spec, seed, world_size))
