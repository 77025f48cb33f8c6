"""mmar diff's report: variables, --set values, versions, data and the outcome side by side, before the tensor summary."""

from __future__ import annotations

import copy
from typing import Any

from runner.diff import render_diff


def manifest(**changes: Any) -> dict[str, Any]:
    """A completed run's manifest as mmar train writes it (the fields the report reads); ``a__b=v`` sets a nested field."""
    base: dict[str, Any] = {
        "manifest_version": 1, "status": "completed", "seed": 0, "config_digest": "sha256:c1",
        "variables": {"learning_rate": 0.001, "epochs": 2, "MMAR_CKPT_DIR": "/runs/a"},
        "overrides": {"epochs": 2},
        "versions": {"torch": "2.13.0", "monai": "1.6.1"},
        "datalist_digests": {"train": "sha256:d1", "validate": "sha256:d2"},
        "device": {"device": "cpu", "torch_num_threads": 2}, "determinism": {"cudnn_benchmark": False},
        "epochs_completed": 2, "key_metric": {"name": "val_mean_dice", "best": 0.81234, "best_epoch": 2},
        "final_loss": 0.41234, "duration_s": 12.34,
        "weights_digest": "sha256:w1", "tensor_digests": {"conv.weight": "sha256:1", "conv.bias": "sha256:2"},
    }
    base = copy.deepcopy(base)
    for key, value in changes.items():
        node = base
        *parents, leaf = key.split("__")
        for parent in parents:
            node = node[parent]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return base


def test_a_changed_learning_rate_is_named_with_both_values_before_the_tensor_summary() -> None:
    second = manifest(variables__learning_rate=0.01, overrides__learning_rate=0.01, config_digest="sha256:c2",
                      weights_digest="sha256:w2", tensor_digests={"conv.weight": "sha256:9", "conv.bias": "sha256:2"},
                      key_metric__best=0.7, key_metric__best_epoch=1, final_loss=0.5, duration_s=15.0)
    comparison, lines = render_diff(manifest(), second)
    assert not comparison.identical
    assert lines[:5] == ["variables that differ:", "  learning_rate: 0.001 -> 0.01",
                         "--set values that differ:", "  learning_rate: (absent) -> 0.01",
                         "versions: the same (2)"]
    assert "data: the same datalists (train, validate)" in lines
    assert "  config_digest: sha256:c1 -> sha256:c2" in lines
    outcome = lines.index(next(line for line in lines if line.startswith("outcome:")))
    rows = {line.split()[0]: line for line in lines[outcome + 1:outcome + 6]}
    assert rows["best"].split() == ["best", "val_mean_dice", "0.8123", "@", "epoch", "2", "0.7000", "@", "epoch", "1"]
    assert rows["final"].split() == ["final", "loss", "0.4123", "0.5000"]
    assert rows["time"].split() == ["time", "12.3", "s", "15.0", "s"]
    assert lines[-1] == "diverged: 1 tensor(s) differ; first in model order: conv.weight", "the verdict comes last"


def test_versions_and_data_that_differ_are_listed_in_their_own_sections() -> None:
    second = manifest(versions__torch="2.14.0", datalist_digests__train="sha256:d9")
    _, lines = render_diff(manifest(), second)
    assert lines[lines.index("versions that differ:") + 1] == "  torch: 2.13.0 -> 2.14.0"
    assert lines[lines.index("data that differs (datalist digests):") + 1] == "  train: sha256:d1 -> sha256:d9"
    assert "other settings that differ and can change numbers:" not in lines, "not listed twice"
    assert lines[-1] == "bit-identical: sha256:w1"


def test_identical_runs_say_so_and_only_the_outcome_is_listed() -> None:
    comparison, lines = render_diff(manifest(), manifest())
    assert comparison.identical
    assert lines[:4] == ["variables: the same (3)", "--set values: the same (1)", "versions: the same (2)",
                         "data: the same datalists (train, validate)"]
    assert lines[-1] == "bit-identical: sha256:w1"


def test_a_manifest_from_before_variables_were_recorded_says_so() -> None:
    _, lines = render_diff(manifest(variables=None, overrides=None, final_loss=None), manifest())
    assert lines[0] == "variables: not recorded in the first manifest (written by an older mmar-runner)"
    assert lines[1] == "--set values: not recorded in the first manifest (written by an older mmar-runner)"
    final = next(line for line in lines if line.strip().startswith("final loss"))
    assert final.split() == ["final", "loss", "n/a", "0.4123"]


def test_divergence_without_a_recorded_cause_keeps_the_explanation() -> None:
    second = manifest(weights_digest="sha256:w2", tensor_digests={"conv.weight": "sha256:1", "conv.bias": "sha256:7"})
    _, lines = render_diff(manifest(), second)
    assert lines[-2] == "diverged: 1 tensor(s) differ; first in model order: conv.bias"
    assert lines[-1].startswith("no recorded setting differs")


def test_evaluation_metrics_are_compared_side_by_side() -> None:
    first = manifest(metrics={"val_mean_dice": 0.8}, key_metric=None, final_loss=None, epochs_completed=None)
    _, lines = render_diff(first, manifest(metrics={"val_mean_dice": 0.75, "val_hausdorff": 3.5}))
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  val_")}
    assert rows == {"val_hausdorff": ["n/a", "3.5000"], "val_mean_dice": ["0.8000", "0.7500"]}
