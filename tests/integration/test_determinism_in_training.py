"""Inside a real training run: strict mode holds after the engine starts; every random transform is seeded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.load import load_train_config
from runner.workflow.train import run_training
from tests.conftest import TINY_SET

pytestmark = pytest.mark.slow

PROBE = '''
import json
import torch
from ignite.engine import Events
from runner.determinism import unseeded_randomizables


class Relaxer:
    """Does what ignite's DeterministicEngine does at STARTED on CUDA machines."""
    def attach(self, engine):
        engine.add_event_handler(Events.STARTED, lambda e: torch.use_deterministic_algorithms(True, warn_only=True))


class Probe:
    def __init__(self, out):
        self.out = out
        self.seen = []

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def __call__(self, engine):
        self.seen.append({
            "strict": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        })

    def write(self, engine):
        dataset = engine.data_loader.dataset
        with open(self.out, "w") as handle:
            json.dump({"seen": self.seen, "unseeded": unseeded_randomizables(dataset)}, handle)


from monai.data import CacheDataset
from monai.transforms import RandGaussianNoise


class DictAugmentedDataset(CacheDataset):
    """Holds a random transform in a dict: neither Compose nor MONAI's DataLoader seeding reaches it."""
    def __init__(self, data, transform, cache_rate, num_workers, progress):
        super().__init__(data=data, transform=transform, cache_rate=cache_rate, num_workers=num_workers, progress=progress)
        self.extra = {"noise": RandGaussianNoise(prob=1.0)}
'''


def test_strict_mode_and_seeded_transforms_during_training(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "probe.json"

    def edit(config: dict) -> None:
        config["train"]["handlers"][:0] = [{"path": "probe.Relaxer"}, {"path": "probe.Probe", "args": {"out": str(out)}}]
        config["train"]["dataset"]["path"] = "probe.DictAugmentedDataset"

    root = make_mmar(edit=edit, custom={"probe.py": PROBE})
    result = run_training(load_train_config(root, overrides=[*TINY_SET, "epochs=1"]))
    report = json.loads(out.read_text())
    assert report["seen"], "the probe saw no iteration"
    assert all(s["strict"] and not s["warn_only"] and not s["cudnn_benchmark"] for s in report["seen"])
    assert report["unseeded"] == []  # the dict-held transform too
    assert result.epochs_completed == 1 and (root / "models" / "run_manifest.json").is_file()


def test_deterministic_algorithms_off_is_in_force_and_recorded(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """``deterministic_algorithms: false`` really turns strict mode off for the whole run, and the
    manifest says the run is not bitwise reproducible (the determinism benchmark's fast setting)."""
    out = tmp_path / "probe.json"

    def edit(config: dict) -> None:
        config["train"]["handlers"][:0] = [{"path": "probe.Probe", "args": {"out": str(out)}}]

    root = make_mmar(edit=edit, custom={"probe.py": PROBE})
    run_training(load_train_config(root, overrides=[*TINY_SET, "epochs=1", "deterministic_algorithms=False"]))
    report = json.loads(out.read_text())
    assert report["seen"] and not any(s["strict"] for s in report["seen"])
    flags = json.loads((root / "models" / "run_manifest.json").read_text())["determinism"]
    assert flags["deterministic_algorithms"] is False
    assert flags["requested"]["deterministic_algorithms"] is False
    assert flags["bitwise_reproducible"] is False
