"""Determinism pins: flags read back, RNGs seeded, loaders and transforms independent of global RNG use."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from runner.components.build import Builder
from runner.config.load import load_train_config
from runner.determinism import (
    DeterminismSettings,
    apply_determinism,
    attach_strict_guard,
    derive_seed,
    seed_randomizables,
    unseeded_randomizables,
)


def test_flags_are_set_and_read_back() -> None:
    flags = apply_determinism(DeterminismSettings(seed=3))
    assert flags["deterministic_algorithms"] is True and flags["deterministic_algorithms_warn_only"] is False
    assert flags["cudnn_deterministic"] is True and flags["cudnn_benchmark"] is False
    assert flags["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert flags["cuda_matmul_fp32_precision"] == "ieee" and flags["cudnn_conv_fp32_precision"] == "ieee"
    assert flags["requested"]["seed"] == 3


def test_tf32_and_benchmark_are_honoured_and_flagged_as_not_bitwise() -> None:
    settings = DeterminismSettings(seed=0, cudnn_benchmark=True, tf32=True)
    flags = apply_determinism(settings)
    assert flags["cudnn_benchmark"] is True and flags["cuda_matmul_fp32_precision"] == "tf32"
    assert flags["bitwise_reproducible"] is False
    apply_determinism(DeterminismSettings(seed=0))


def test_every_rng_draws_the_same_after_the_same_seed() -> None:
    def draws() -> tuple[Any, ...]:
        apply_determinism(DeterminismSettings(seed=11))
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    assert draws() == draws()
    first = draws()
    apply_determinism(DeterminismSettings(seed=12))
    assert (random.random(), np.random.rand(), torch.rand(3).tolist()) != first


def test_strict_guard_undoes_a_relaxation_at_engine_start() -> None:
    from ignite.engine import Engine, Events

    def run(with_guard: bool) -> bool:
        torch.use_deterministic_algorithms(True)
        engine = Engine(lambda e, b: None)
        # What ignite's DeterministicEngine does at STARTED when CUDA is present:
        engine.add_event_handler(Events.STARTED, lambda _: torch.use_deterministic_algorithms(True, warn_only=True))
        if with_guard:
            attach_strict_guard(engine, DeterminismSettings(seed=0))
        seen = {}
        engine.add_event_handler(Events.ITERATION_STARTED, lambda _: seen.update(w=torch.is_deterministic_algorithms_warn_only_enabled()))
        engine.run([1, 2], max_epochs=1)
        return seen["w"]

    assert run(with_guard=False) is True  # the relaxation is real...
    assert run(with_guard=True) is False  # ...and the guard restores strict mode


def test_seed_randomizables_reaches_every_transform_with_distinct_seeds() -> None:
    from monai.transforms import Compose, RandFlipd, RandGaussianNoised, ScaleIntensityd

    pipeline = {"t": Compose([ScaleIntensityd(keys="x"), RandFlipd(keys="x"), RandGaussianNoised(keys="x")]),
                "nested": [RandFlipd(keys="y")]}
    from monai.transforms import Randomizable

    def all_randomizables(obj: Any) -> list[Any]:
        found, stack = [], [obj]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple)):
                stack.extend(item)
            elif hasattr(item, "__dict__"):
                if isinstance(item, Randomizable):
                    found.append(item)
                stack.extend(vars(item).values())
        return found

    for transform in all_randomizables(pipeline):
        vars(transform).pop("R", None)  # back to the shared, entropy-seeded class-level R
    expected = ["Compose", "RandFlipd", "RandFlipd", "RandGaussianNoise", "RandGaussianNoised"]
    assert sorted(unseeded_randomizables(pipeline)) == expected
    assert seed_randomizables(pipeline, 5) == len(expected)
    assert unseeded_randomizables(pipeline) == []
    states = [t.R.get_state()[1][0] for t in (pipeline["t"].transforms[1], pipeline["t"].transforms[2], pipeline["nested"][0])]
    assert len(set(states)) == 3


def test_derived_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(0, "train.dataloader") == derive_seed(0, "train.dataloader")
    assert derive_seed(0, "train.dataloader") != derive_seed(0, "validate.dataloader")
    assert derive_seed(0, "a") != derive_seed(1, "a")
    assert 0 <= derive_seed(2**32 - 1, "x") < 2**32


LOADER_CONFIG = {
    "determinism": {"random_seed": 4},
    "train": {
        "dataset": {"name": "Dataset", "args": {"data": list(range(32))}},
        "dataloader": {"name": "DataLoader", "args": {"batch_size": 4, "shuffle": True}},
        "trainer": {"name": "Identity"},
    },
}


@pytest.mark.parametrize("loader", [{"name": "DataLoader"}, {"path": "torch.utils.data.DataLoader"}])
def test_loader_order_does_not_depend_on_global_rng_use(make_mmar: Callable[..., Path], loader: dict[str, str]) -> None:
    config = {**LOADER_CONFIG, "train": {**LOADER_CONFIG["train"], "dataloader": {**loader, "args": {"batch_size": 4, "shuffle": True}}}}
    root = make_mmar(config=config)

    def order(consume: int) -> list[int]:
        loaded = load_train_config(root)
        apply_determinism(DeterminismSettings(seed=loaded.seed))
        torch.rand(consume)  # e.g. a different model initialisation drew more numbers
        loader = Builder(loaded, device="cpu", amp=False).get("train", "dataloader")
        return [int(v) for batch in loader for v in batch]

    baseline = order(0)
    assert order(1000) == baseline
    assert sorted(baseline) == list(range(32)) and baseline != list(range(32))
    # Negative control: a torch loader on the global generator changes with global RNG use.
    from torch.utils.data import DataLoader

    def plain(consume: int) -> list[int]:
        torch.manual_seed(4)
        torch.rand(consume)
        return [int(v) for batch in DataLoader(list(range(32)), batch_size=4, shuffle=True) for v in batch]

    assert plain(0) != plain(1000)


@pytest.mark.parametrize("consume", [0, 7])
def test_seed_changes_loader_order(make_mmar: Callable[..., Path], consume: int) -> None:
    root = make_mmar(config=LOADER_CONFIG)
    orders = []
    for seed in ("determinism.random_seed=4", "determinism.random_seed=5"):
        loaded = load_train_config(root, overrides=[seed])
        torch.rand(consume)
        orders.append([int(v) for b in Builder(loaded, device="cpu", amp=False).get("train", "dataloader") for v in b])
    assert orders[0] != orders[1]


WORKER_CONFIG = {
    "determinism": {"random_seed": 2},
    "train": {
        "pre_transforms": [{"name": "ToNumpyd", "args": {"keys": "x"}},
                           {"name": "RandGaussianNoised", "args": {"keys": "x", "prob": 1.0}}],
        "dataset": {"name": "Dataset", "args": {"data": [{"x": [[0.0, 0.0]]} for _ in range(8)]}},
        "dataloader": {"path": "torch.utils.data.DataLoader", "args": {"batch_size": 2, "num_workers": 2}},
        "trainer": {"name": "Identity"},
    },
}


def test_worker_augmentations_are_reproducible_and_differ_per_worker(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config=WORKER_CONFIG)

    def batches() -> list[list[float]]:
        loaded = load_train_config(root)
        apply_determinism(DeterminismSettings(seed=loaded.seed))
        loader = Builder(loaded, device="cpu", amp=False).get("train", "dataloader")
        assert loader.worker_init_fn is not None
        return [batch["x"].flatten().tolist() for batch in loader]

    first = batches()
    assert batches() == first
    # Batches alternate between the two workers; without per-worker seeding they would repeat.
    assert first[0] != first[1]
