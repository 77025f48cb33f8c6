"""What a tracked run's tags and parameters are made of (no server needed)."""

from __future__ import annotations

from runner.tracking.mlflow_run import flat_params, is_run_id, provenance_tags


def test_tags_carry_the_manifest_s_provenance_and_the_image() -> None:
    manifest = {"command": "train", "config_digest": "sha256:c", "custom_code_digest": None, "seed": 0, "world_size": 2,
                "image": "registry.example/spleen@sha256:" + "a" * 64, "datalist_digests": {"train": "sha256:t"},
                "determinism": {"deterministic_algorithms": True}, "device": {"device": "cuda:0", "gpu_name": "H200"},
                "versions": {"torch": "2.13.0"}}
    tags = provenance_tags(manifest)
    assert tags["mmar.image"] == manifest["image"] and tags["mmar.world_size"] == "2"
    assert tags["mmar.custom_code_digest"].startswith("none") and tags["mmar.datalist_digest.train"] == "sha256:t"
    assert tags["mmar.determinism.deterministic_algorithms"] == "True" and tags["mmar.device.gpu_name"] == "H200"
    assert "mmar.image" not in provenance_tags({**manifest, "image": None}), "a run on a host has no image tag"


def test_params_are_the_variables_and_the_set_values_as_text() -> None:
    params = flat_params({"epochs": 2, "patch_size": [96, 96, 96], "name": "x"}, {"epochs": 2})
    assert params == {"epochs": "2", "patch_size": "[96, 96, 96]", "name": "x", "set.epochs": "2"}
    assert is_run_id("0" * 32) and not is_run_id("models/run_manifest.json")
