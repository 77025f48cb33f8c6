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
                     "args": {"include_background": False,
                              "output_transform": "lambda x: ([i['pred'] for i in x], [i['label'] for i in x])"}}],
        "evaluator": {"name": "SupervisedEvaluator"},
    },
}


def test_implicit_wiring_trains_and_saves_where_clara_did(make_mmar: Callable[..., Path]) -> None:
    root = make_mmar(config=CONFIG_40)
    loaded = load_train_config(root)
    assert loaded.dialect == "4.0"
    result = run_training(loaded)
    assert result.epochs_completed == 2 and result.best_model == root / "models" / "model.pt"
    final = torch.load(root / "models" / "final_model.pt", map_location="cpu", weights_only=False)
    assert set(final) == {"model", "optimizer", "lr_scheduler", "train_conf"}
    assert final["train_conf"]["learning_rate"] == 1e-3
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["key_metric"]["name"] == "val_mean_dice" and manifest["key_metric"]["best"] is not None
    assert manifest["dialect"] == "4.0"


def explicit_41(config_40: dict) -> dict:
    """The same pipeline written in the 4.1 dialect: every object named with @, metrics split."""
    config = json.loads(json.dumps(config_40))
    config["CLARA_TRAIN_VERSION"] = "4.1.0"
    train, validate = config["train"], config["validate"]
    train["optimizer"]["args"]["params"] = "#@model.parameters()"
    train["lr_scheduler"]["args"]["optimizer"] = "@optimizer"
    for section in (train, validate):
        section["dataset"]["args"] = {"transform": "@pre_transforms"}
        section["dataloader"]["args"]["dataset"] = "@dataset"
    train["handlers"] = [
        {"name": "LrScheduleHandler", "args": {"lr_scheduler": "@lr_scheduler"}},
        {"name": "ValidationHandler", "args": {"validator": "@evaluator", "interval": 1}},
        {"name": "CheckpointSaver", "args": {"save_dir": "{MMAR_CKPT_DIR}", "save_final": True, "final_filename": "final_model.pt",
         "save_dict": {"model": "@model", "optimizer": "@optimizer", "lr_scheduler": "@lr_scheduler", "train_conf": "@conf"}}},
    ]
    train["trainer"]["args"].update(train_data_loader="@dataloader", network="@model", optimizer="@optimizer",
                                    loss_function="@loss", inferer="@inferer", train_handlers="@handlers")
    validate["handlers"] = [{"name": "CheckpointSaver", "args": {"save_dir": "{MMAR_CKPT_DIR}", "save_dict": {"model": "@model"},
                             "save_key_metric": True, "key_metric_filename": "model.pt"}}]
    metric = validate.pop("metrics")[0]
    metric.pop("is_key_metric")
    metric["args"]["output_transform"] = "#monai.handlers.from_engine(['pred', 'label'])"
    validate["key_metric"] = metric
    validate["evaluator"]["args"] = {"val_data_loader": "@dataloader", "network": "@model", "inferer": "@inferer",
                                     "postprocessing": "@post_transforms", "key_val_metric": "@key_metric", "val_handlers": "@handlers"}
    return config


def test_the_two_dialects_of_one_pipeline_train_to_the_same_weights(make_mmar: Callable[..., Path]) -> None:
    implicit = load_train_config(make_mmar(config=CONFIG_40, name="v40"))
    explicit = load_train_config(make_mmar(config=explicit_41(CONFIG_40), name="v41"))
    assert (implicit.dialect, explicit.dialect) == ("4.0", "4.1")
    first, second = run_training(implicit), run_training(explicit)
    assert first.weights_digest == second.weights_digest
    best = [json.loads(r.manifest_path.read_text())["key_metric"]["best"] for r in (first, second)]
    assert best[0] == best[1] is not None
