"""scripts/mmar_pins.py of a converted bundle: the runner's determinism pins, for ``python -m monai.bundle run``.

``mmar convert`` copies this file, unchanged, into every bundle it writes. It imports nothing of
mmar-runner: the bundle runs with MONAI alone. Each function repeats one step of
:mod:`runner.determinism` (and of the runner's implicit wiring) in the same order, so a
bundle run by MONAI draws the same random numbers as ``mmar train MMAR`` and trains the same
weights. Running a step twice (``mmar train BUNDLE`` pins before the bundle's ``initialize``)
sets the same state again.
"""

import functools
import hashlib
import os
import pydoc
import random
from collections import deque

CUBLAS_WORKSPACE = ":4096:8"
LEGACY_EVENT_HOOK = "_register_additional_events"  # Clara-era custom trainers registered their events here; MONAI 0.6 removed it
_NOT_ENTERED = frozenset({"_cache", "data"})


def pin(seed, cudnn_benchmark=False, tf32=False, deterministic_algorithms=True):
    """Seed random, numpy, torch and MONAI and set the determinism flags, as ``apply_determinism``."""
    import numpy as np
    import torch
    from monai.utils import set_determinism

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_determinism(seed=seed, use_deterministic_algorithms=None)
    torch.use_deterministic_algorithms(deterministic_algorithms, warn_only=False)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = cudnn_benchmark
    _set_tf32(tf32)
    return seed


def _set_tf32(enabled):
    import torch

    precision = "tf32" if enabled else "ieee"
    try:
        torch.backends.fp32_precision = precision
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
        torch.backends.cudnn.rnn.fp32_precision = precision
    except AttributeError:  # torch < 2.9
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
        torch.set_float32_matmul_precision("high" if enabled else "highest")


def derive_seed(seed, label):
    """sha256 of ``"seed:label"``, first 4 bytes little-endian: one seed per consumer, the same in every process."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def generator(seed, label):
    """A torch Generator for one DataLoader, seeded from the run seed and the loader's label."""
    import torch

    return torch.Generator().manual_seed(derive_seed(seed, label))


def sampler(dataset, seed, label, shuffle=True):
    """The seeded sampler a shuffled training loader reads through: its order depends on (seed, epoch) only."""
    from monai.data import DistributedSampler

    return DistributedSampler(dataset, even_divisible=shuffle, num_replicas=1, rank=0, shuffle=shuffle,
                              seed=derive_seed(seed, label))


def on_path(folder_path):
    """Put ``folder_path`` (the bundle's scripts/) on the import path: custom modules that import each other top-level."""
    import sys

    folder_path = os.path.abspath(folder_path)
    if folder_path not in sys.path:
        sys.path.insert(1, folder_path)
    return folder_path


def legacy_event_hook(target):
    """The trainer class a bundle builds: ``target``, or a subclass that calls its ``_register_additional_events``.

    Clara-era trainers registered their own events by overriding that hook; MONAI stopped calling
    it in 0.6, so their handlers fail to attach to the events. The subclass ends the ``super()``
    chain and calls the hook once, before the handlers attach, as ``mmar train MMAR`` does. It keeps
    the name, module and constructor signature of ``target``, and ``isinstance(obj, target)`` holds.

    ``target`` may be a dotted path (``"scripts.custom_trainer.CustomTrainer"``): imported when the
    trainer is built, after ``initialize`` (which may put scripts/ on the import path), not while
    MONAI parses the config and evaluates its ``imports``.
    """
    if isinstance(target, str):
        target = _locate(target)
    if not defines_legacy_event_hook(target):
        return target

    class LegacyEventHook(target, _LegacyHookEnd):
        @functools.wraps(target.__init__)
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._register_legacy_events_once()

        def _register_handlers(self, handlers):
            self._register_legacy_events_once()
            super()._register_handlers(handlers)

        def _register_legacy_events_once(self):
            if not self.__dict__.get("_legacy_events_registered"):
                self.__dict__["_legacy_events_registered"] = True
                getattr(self, LEGACY_EVENT_HOOK)()

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(LegacyEventHook, attribute, getattr(target, attribute))
    return LegacyEventHook


def defines_legacy_event_hook(target):
    """Whether ``target`` is a MONAI Workflow subclass that overrides the hook MONAI no longer has."""
    import inspect

    from monai.engines import Workflow

    if not inspect.isclass(target) or not issubclass(target, Workflow) or hasattr(Workflow, LEGACY_EVENT_HOOK):
        return False
    return any(LEGACY_EVENT_HOOK in vars(cls) for cls in target.__mro__ if cls is not Workflow)


class _LegacyHookEnd:
    """Where ``super()._register_additional_events()`` stops: MONAI registers its IterationEvents itself now."""

    def _register_additional_events(self):
        return None


def _locate(path):
    found = pydoc.locate(path)
    if found is None:
        raise ImportError(f"cannot import {path!r}: is the bundle's scripts/ importable from here?")
    return found


def folder(path):
    """``path``, created: a dataset cache folder."""
    os.makedirs(path, exist_ok=True)
    return path


def iter_randomizables(obj):
    """Breadth-first walk over attributes, lists, tuples and dicts, each MONAI Randomizable once."""
    import numpy as np
    import torch
    from monai.transforms import Randomizable

    seen = set()
    queue = deque([obj])
    while queue:
        item = queue.popleft()
        if id(item) in seen or item is None or isinstance(item, (str, bytes, int, float, bool, torch.Tensor, np.ndarray)):
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


def seed_randomizables(obj, seed):
    """Consecutive seeds from ``seed`` for the Randomizables reachable from ``obj``, in walk order."""
    count = 0
    for count, item in enumerate(iter_randomizables(obj), start=1):
        item.set_random_state(seed=(seed + count - 1) % 2**32)
    return count


def prepare(trainer, seed, datasets, evaluator=None):
    """Once the trainer is built and before it runs: seed each dataset's transforms, give the engines Clara's batched output view.

    ``datasets`` maps a label (``train``, ``validate``) to the dataset, as the runner seeds them.
    """
    for label, dataset in datasets.items():
        if dataset is not None:
            seed_randomizables(dataset, derive_seed(seed, f"{label}.dataset.transforms"))
    for engine in (trainer, evaluator):
        if engine is not None:
            attach_batched_view(engine)
    return trainer


def save_final(network, folder_path, filename="final_model.pt"):
    """The trained weights as ``{"model": state_dict}`` in ``folder_path``: what the run's digest is computed from."""
    import torch

    os.makedirs(folder_path, exist_ok=True)
    inner = getattr(network, "module", network)
    path = os.path.join(folder_path, filename)
    torch.save({"model": inner.state_dict()}, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


class BatchedView(list):
    """A decollated engine output (a list of dicts) that also answers a key, as MONAI 0.5's batched dict did."""

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._collated(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            super().__setitem__(key, value)
            return
        for item, part in zip(self, _split(value, len(self)), strict=True):
            item[key] = part

    def __contains__(self, key):
        if isinstance(key, str):
            return bool(self) and all(isinstance(item, dict) and key in item for item in self)
        return super().__contains__(key)

    def get(self, key, default=None):
        return self._collated(key) if key in self else default

    def keys(self):
        first = next(iter(self), None)
        return list(first) if isinstance(first, dict) else []

    def _collated(self, key):
        if not self or not all(isinstance(item, dict) for item in self):
            raise KeyError(key)
        values = [item[key] for item in self]
        if all(_is_scalar(v) for v in values) and all(_equal(v, values[0]) for v in values[1:]):
            return values[0]
        import torch

        if all(isinstance(v, torch.Tensor) for v in values):
            return torch.stack(values)
        return values


def _is_scalar(value):
    return isinstance(value, (int, float, bool)) or getattr(value, "ndim", None) == 0


def _equal(first, second):
    try:
        return bool(first == second)
    except (TypeError, RuntimeError):
        return False


def _split(value, count):
    length = len(value) if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0 else None
    if length == count:
        yield from value
    else:
        for _ in range(count):
            yield value


def attach_batched_view(engine):
    """Wrap the engine's output and batch once MONAI has decollated them (Clara 4.0 handlers read ``output["loss"]``)."""
    from monai.engines import IterationEvents

    if getattr(engine, "_mmar_batched_view", False):
        return engine
    engine._mmar_batched_view = True

    def wrap(engine):
        state = engine.state
        for name in ("output", "batch"):
            value = getattr(state, name, None)
            if type(value) is list and value and all(isinstance(item, dict) for item in value):
                setattr(state, name, BatchedView(value))

    engine.add_event_handler(IterationEvents.MODEL_COMPLETED, wrap)
    return engine
