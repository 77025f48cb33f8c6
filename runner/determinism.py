"""The one place that pins seeds and determinism flags, and reports what is in force.

Which pins come from where:

=========================  ===================================  ==============================
pin                        set by                               why there
=========================  ===================================  ==============================
PYTHONHASHSEED=0           process env (CLI re-exec, image ENV)  read once at interpreter start
CUBLAS_WORKSPACE_CONFIG    process env, before torch/CUDA start  cuBLAS reads it at init
random/numpy/torch seeds   :func:`apply_determinism`             from ``determinism.random_seed``
MONAI set_determinism      :func:`apply_determinism`             seeds MONAI's global seed, which
                                                                 Compose uses to seed transforms
deterministic algorithms   :func:`apply_determinism` and again   ignite's DeterministicEngine may
                           at ``Events.STARTED``                 relax it to warn-only
cuDNN deterministic/bench  :func:`apply_determinism`             ``cudnn_benchmark`` in config
TF32 off                   :func:`apply_determinism`             ``tf32`` in config (default off)
Randomizable transforms    :func:`seed_randomizables`            each gets its own derived seed
DataLoader order           ``generator`` per loader (wiring)     independent of global RNG use
=========================  ===================================  ==============================
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from runner.errors import DeterminismError

logger = logging.getLogger(__name__)

CUBLAS_WORKSPACE = ":4096:8"
VALID_CUBLAS = (":4096:8", ":16:8")
PYTHON_HASH_SEED = "0"


@dataclass(frozen=True)
class DeterminismSettings:
    """What a run pins; derived from the validated config."""

    seed: int
    cudnn_benchmark: bool = False
    tf32: bool = False
    deterministic_algorithms: bool = True

    @property
    def bitwise_reproducible(self) -> bool:
        """False when a setting the user chose trades reproducibility for speed."""
        return self.deterministic_algorithms and not self.cudnn_benchmark and not self.tf32


_pinned_after_cuda_started = False


def prepare_process_env() -> None:
    """Set the variables CUDA libraries read at start-up. Call before anything touches CUDA.

    If CUDA is already running when the workspace setting has to be changed, cuBLAS has read the
    old value; :func:`apply_determinism` then refuses strict mode instead of claiming it.
    """
    global _pinned_after_cuda_started
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") in VALID_CUBLAS:
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        _pinned_after_cuda_started = True
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE


def apply_determinism(settings: DeterminismSettings) -> dict[str, Any]:
    """Seed every RNG and set every flag; return the flags read back.

    Raises:
        DeterminismError: CUDA was initialised before the pins could take effect.
    """
    import numpy as np
    import torch
    from monai.utils import set_determinism

    prepare_process_env()
    if _pinned_after_cuda_started and settings.deterministic_algorithms:
        raise DeterminismError(
            "CUDA started before CUBLAS_WORKSPACE_CONFIG was set, so cuBLAS may not be deterministic",
            hint="start a new process, or set CUBLAS_WORKSPACE_CONFIG=:4096:8 before anything touches CUDA",
        )
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    set_determinism(seed=settings.seed, use_deterministic_algorithms=None)
    torch.use_deterministic_algorithms(settings.deterministic_algorithms, warn_only=False)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    _set_tf32(settings.tf32)
    if settings.cudnn_benchmark:
        logger.warning("cudnn_benchmark is on: cuDNN may pick different kernels per run; weights will not be bit-identical")
    if not settings.deterministic_algorithms:
        logger.warning("deterministic_algorithms is off: nondeterministic kernels may run; weights may not be bit-identical")
    return read_back_flags(settings)


def derive_seed(seed: int, label: str) -> int:
    """A seed for one consumer (a loader, a dataset), stable across processes and platforms.

    ``sha256(f"{seed}:{label}")``, never ``hash()``, which PYTHONHASHSEED would change.
    """
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _set_tf32(enabled: bool) -> None:
    import torch

    precision = "tf32" if enabled else "ieee"
    try:
        torch.backends.fp32_precision = precision
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
        torch.backends.cudnn.rnn.fp32_precision = precision
    except AttributeError:  # torch < 2.9: the legacy switches
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
        torch.set_float32_matmul_precision("high" if enabled else "highest")


def read_back_flags(settings: DeterminismSettings | None = None) -> dict[str, Any]:
    """The determinism state actually in force, for the run manifest."""
    import torch

    flags: dict[str, Any] = {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_algorithms_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "float32_matmul_precision": _matmul_precision(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"),
        "torch_num_threads": torch.get_num_threads(),
    }
    try:
        flags["cuda_matmul_fp32_precision"] = torch.backends.cuda.matmul.fp32_precision
        flags["cudnn_conv_fp32_precision"] = torch.backends.cudnn.conv.fp32_precision
    except AttributeError:
        flags["cuda_matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        flags["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
    if settings is not None:
        flags["requested"] = asdict(settings)
        flags["bitwise_reproducible"] = settings.bitwise_reproducible and flags["PYTHONHASHSEED"] == PYTHON_HASH_SEED
    return flags


def _matmul_precision() -> str:
    import torch

    try:
        return torch.get_float32_matmul_precision()
    except RuntimeError:  # torch >= 2.9 refuses when only the per-backend API was used
        return "per-backend"


def seed_randomizables(obj: Any, seed: int) -> int:
    """Give every MONAI ``Randomizable`` reachable from ``obj`` its own seeded state.

    Returns how many were seeded. Consecutive transforms get consecutive seeds, in a fixed
    breadth-first order, so the assignment is the same in every process.
    """
    count = 0
    for count, item in enumerate(iter_randomizables(obj), start=1):
        item.set_random_state(seed=(seed + count - 1) % 2**32)
    return count


def unseeded_randomizables(obj: Any) -> list[str]:
    """Class names of Randomizables reachable from ``obj`` that still share the class-level RNG."""
    return [type(item).__name__ for item in iter_randomizables(obj) if "R" not in vars(item)]


def iter_randomizables(obj: Any) -> Iterator[Any]:
    """Breadth-first walk of attributes, lists, tuples and dicts, yielding each Randomizable once.

    MONAI's own ``set_rnd`` skips dicts; cached data (``_cache``, ``data``) and tensors are not entered.
    """
    from monai.transforms import Randomizable

    seen: set[int] = set()
    queue: deque[Any] = deque([obj])
    while queue:
        item = queue.popleft()
        if id(item) in seen or item is None or isinstance(item, (str, bytes, int, float, bool)) or _is_array(item):
            continue
        seen.add(id(item))
        if isinstance(item, Randomizable):
            yield item
        if isinstance(item, dict):
            queue.extend(item.values())
        elif isinstance(item, (list, tuple)):
            queue.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            queue.extend(v for k, v in vars(item).items() if not k.startswith("__") and k not in _NOT_ENTERED)


_NOT_ENTERED = frozenset({"_cache", "data"})


def _is_array(item: Any) -> bool:
    import numpy as np
    import torch

    return isinstance(item, (torch.Tensor, np.ndarray))


def attach_strict_guard(engine: Any, settings: DeterminismSettings) -> None:
    """Re-assert strict deterministic algorithms once the engine has started.

    ignite's DeterministicEngine switches PyTorch to warn-only at ``Events.STARTED`` when CUDA is
    present; our handler is registered after the engine's own, so it runs last and restores the pin.
    """
    import torch
    from ignite.engine import Events

    def reassert(_: Any) -> None:
        wanted = settings.deterministic_algorithms
        if torch.are_deterministic_algorithms_enabled() != wanted or torch.is_deterministic_algorithms_warn_only_enabled():
            logger.warning("deterministic algorithms were relaxed after start; restoring strict mode")
            torch.use_deterministic_algorithms(wanted, warn_only=False)

    engine.add_event_handler(Events.STARTED, reassert)
    engine.add_event_handler(Events.EPOCH_STARTED, reassert)
