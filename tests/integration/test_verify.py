"""`mmar verify` and `mmar diff`: bit-identical runs are proven, divergent ones located and explained."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.workflow.verify import compare, numeric_differences
from tests.conftest import TINY_SET, run_cli

UNSEEDED = '''import numpy as np
import torch
from monai.transforms import MapTransform


class UnseededNoised(MapTransform):
    """Noise from its own generator, seeded by the OS: not a Randomizable, so nothing seeds it."""

    def __init__(self, keys):
        super().__init__(keys)
        self.rng = np.random.default_rng()

    def __call__(self, data):
        out = dict(data)
        for key in self.keys:
            out[key] = out[key] + torch.as_tensor(self.rng.normal(0.0, 0.1, tuple(out[key].shape)), dtype=out[key].dtype)
        return out
'''


@pytest.mark.slow
def test_verify_says_bit_identical_for_the_demo_bundle(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    done = run_cli("verify", str(make_mmar()), "--keep", str(tmp_path / "runs"), "--set", *TINY_SET, "epochs=1")
    assert done.returncode == 0, done.stderr[-2000:]
    manifests = [json.loads((tmp_path / "runs" / f"run{i}" / "run_manifest.json").read_text()) for i in (1, 2)]
    assert done.stdout.startswith(f"bit-identical: {manifests[0]['weights_digest']}")
    assert manifests[0]["iterations"] == 2 and manifests[0]["tensor_digests"] == manifests[1]["tensor_digests"]


@pytest.mark.slow
def test_verify_finds_the_divergence_of_an_unseeded_transform(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["pre_transforms"].insert(4, {"path": "noisy.UnseededNoised", "args": {"keys": "image"}})
        config["legacy_custom_transforms"] = False  # written for today's MONAI: MetaTensors, not numpy

    root = make_mmar(edit=edit, custom={"noisy.py": UNSEEDED})
    done = run_cli("verify", str(root), "--keep", str(tmp_path / "runs"), "--set", *TINY_SET, "epochs=1")
    assert done.returncode == 1, done.stderr[-2000:]
    first = json.loads((tmp_path / "runs" / "run1" / "run_manifest.json").read_text())
    first_tensor = next(iter(first["tensor_digests"]))
    assert f"first in model order: {first_tensor}" in done.stdout
    assert "no recorded setting differs" in done.stdout and "a random source the runner does not seed" in done.stdout


def manifest(**changes: Any) -> dict[str, Any]:
    base = {"manifest_version": 1, "seed": 0, "weights_digest": "sha256:a", "tensor_digests": {"w": "sha256:1", "b": "sha256:2"},
            "versions": {"torch": "2.13.0"}, "device": {"device": "cpu", "torch_num_threads": 2, "platform": "x"},
            "determinism": {"cudnn_benchmark": False}, "started_at": "t0", "duration_s": 1.0}
    for key, value in changes.items():
        node = base
        *parents, leaf = key.split("__")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return base


def test_compare_reports_settings_that_change_numbers_and_ignores_the_rest() -> None:
    a = manifest()
    b = manifest(weights_digest="sha256:b", tensor_digests={"w": "sha256:1", "b": "sha256:3"}, versions__torch="2.14.0",
                 device__torch_num_threads=4, device__platform="y", started_at="t1", duration_s=2.0)
    result = compare(a, b)
    assert not result.identical and result.first_diverging_tensor == "b" and result.differing_tensors == 1
    assert [d.field for d in result.settings] == ["device.torch_num_threads", "versions.torch"]
    assert compare(a, manifest()).identical and numeric_differences(a, manifest()) == []


def test_diff_command(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(manifest()))
    (tmp_path / "b.json").write_text(json.dumps(manifest(seed=1, weights_digest="sha256:c", tensor_digests={"w": "sha256:9", "b": "sha256:2"})))
    done = run_cli("diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert done.returncode == 1
    assert "first in model order: w" in done.stdout and "  seed: 0 -> 1" in done.stdout
    assert done.stdout.splitlines()[0] == "variables: not recorded in either manifest (written by an older mmar-runner)"
    same = run_cli("diff", str(tmp_path / "a.json"), str(tmp_path / "a.json"))
    assert same.returncode == 0 and same.stdout.splitlines()[-1] == "bit-identical: sha256:a"
    missing = run_cli("diff", str(tmp_path / "a.json"), str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "run manifest not found" in missing.stderr


def test_verify_without_keep_leaves_nothing_in_the_temp_folder(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = run_cli("verify", str(make_mmar()), "--iterations", "1", "--set", *TINY_SET, "epochs=1", env={"TMPDIR": str(scratch)},
                   timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("bit-identical: ")
    assert "manifests:     removed with both runs' outputs (--keep DIR keeps them)" in done.stdout
    assert list(scratch.iterdir()) == [], "verify left files in the temp folder"
