"""A 4.0-dialect config (no @references) trains: the runner wires model, optimizer, data, metrics and engines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from runner.config.load import load_train_config
from runner.workflow.train import run_training

pytestmark = pytest.mark.slow

TRANSFORMS = [
    {"name": "LoadImaged", "args": {"keys": ["image", "label"]}},
    {"name": "EnsureChannelFirstd", "args": {"keys": ["image", "label"]}},
    {"name": "ScaleIntensityRanged", "args": {"keys": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True}},
    {"name": "RandSpatialCropd", "args": {"keys": ["image", "label"], "roi_size": [32, 32, 32], "random_size": False}},
]

CONFIG_40 = {
    "epochs": 2,
    "learning_rate": 1e-3,
    "determinism": {"random_seed": 3},
    "train": {
        "loss": {"name": "DiceLoss", "args": {"to_onehot_y": True, "softmax": True}},
        "optimizer": {"name": "Adam", "args": {"lr": "{learning_rate}"}},
        "lr_scheduler": {"name": "StepLR", "args": {"step_size": 10}},
        "model": {"name": "UNet", "args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                                            "channels": [4, 8, 16], "strides": [2, 2]}},
        "pre_transforms": TRANSFORMS,
        "dataset": {"name": "Dataset", "data_list_file_path": "{DATASET_JSON}", "data_file_base_dir": "{DATA_ROOT}",
                    "data_list_key": "training"},
        "dataloader": {"name": "DataLoader", "args": {"batch_size": 2, "shuffle": True}},
        "inferer": {"name": "SimpleInferer"},
        "handlers": [
            {"name": "LrScheduleHandler"},
            {"name": "ValidationHandler", "args": {"interval": 1}},
            {"name": "CheckpointSaver", "args": {"save_dict": ["model", "optimizer", "lr_scheduler", "train_conf"],
                                                 "save_final": True}},
        ],
        "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{epochs}"}},
    },
    "validate": {
        "pre_transforms": [{"ref": "LoadImaged"}, {"ref": "EnsureChannelFirstd"}, {"ref": "ScaleIntensityRanged"}],
        "dataset": {"name": "Dataset", "data_list_file_path": "{DATASET_JSON}", "data_file_base_dir": "{DATA_ROOT}",
                    "data_list_key": "validation"},
        "dataloader": {"name": "DataLoader", "args": {"batch_size": 1}},
        "inferer": {"name": "SlidingWindowInferer", "args": {"roi_size": [32, 32, 32]}},
        "post_transforms": [{"name": "Activationsd", "args": {"keys": "pred", "softmax": True}},
                            {"name": "AsDiscreted", "args": {"keys": ["pred", "label"], "argmax": [True, False], "to_onehot": 2}}],
        "handlers": [{"name": "CheckpointSaver", "args": {"save_dict": ["model"], "save_key_metric": True}}],
        "metrics": [{"name": "MeanDice", "log_label": "val_mean_dice", "is_key_metric": True,
                     "args": {"include_background": False, "output_transform": "lambda x: (x[0]['pred'], x[0]['label'])"}}],
        "evaluator": {"name": "SupervisedEvaluator"},
    },
}


def test_implicit_wiring_trains_and_saves_where_clara_did(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config=CONFIG_40)
    loaded = load_train_config(root)
    assert loaded.dialect == "4.0"
    result = run_training(loaded, show_progress=False)
    assert result.epochs_completed == 2 and result.best_model == root / "models" / "model.pt"
    final = torch.load(root / "models" / "final_model.pt", map_location="cpu", weights_only=False)
    assert set(final) == {"model", "optimizer", "lr_scheduler", "train_conf"}
    assert final["train_conf"]["learning_rate"] == 1e-3
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["key_metric"]["name"] == "val_mean_dice" and manifest["key_metric"]["best"] is not None
    assert manifest["dialect"] == "4.0"
