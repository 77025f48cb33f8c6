"""The spleen CT segmentation pipeline of ``bundles/spleen_ct_seg``, written by hand in plain MONAI.

This is the "handwritten" baseline of ``bench_train.py``: the same components with the same
arguments as ``config/config_train.json``, built the way a careful user would write the script
(``set_determinism(seed)`` and strict deterministic algorithms before anything random is made).
Sizes come from the command line; ``--help`` lists them with the bundle's full-scale defaults.

    python bench/handwritten_spleen.py --data-root DIR --datalist DIR/dataset.json --output-dir OUT
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from bench_probe import FirstIterationProbe
from monai.data import CacheDataset, DataLoader, load_decathlon_datalist
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import (
    CheckpointSaver,
    LrScheduleHandler,
    MeanDice,
    StatsHandler,
    TensorBoardStatsHandler,
    ValidationHandler,
    from_engine,
)
from monai.inferers import SimpleInferer, SlidingWindowInferer
from monai.losses import DiceLoss
from monai.networks.nets import UNet
from monai.transforms import (
    Activationsd,
    AsDiscreted,
    Compose,
    CropForegroundd,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    RandCropByPosNegLabeld,
    RandShiftIntensityd,
    ScaleIntensityRanged,
    Spacingd,
)
from monai.utils import set_determinism

KEYS = ["image", "label"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line sizes; defaults are the bundle's full-scale values."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="base folder of the datalist's relative paths")
    parser.add_argument("--datalist", type=Path, required=True, help="Decathlon-style dataset.json")
    parser.add_argument("--output-dir", type=Path, required=True, help="checkpoints and TensorBoard logs go here")
    parser.add_argument("--epochs", type=int, default=1260)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--val-interval", type=int, default=20, help="validate every N epochs")
    parser.add_argument("--pixdim", type=float, nargs=3, default=[1.5, 1.5, 2.0])
    parser.add_argument("--patch-size", type=int, nargs=3, default=[96, 96, 96])
    parser.add_argument("--val-roi-size", type=int, nargs=3, default=[160, 160, 160])
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=4)
    parser.add_argument("--cache-rate", type=float, default=1.0)
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--strides", type=int, nargs="+", default=[2, 2, 2, 2])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def deterministic_transforms(pixdim: list[float]) -> list[MapTransform]:
    """The pre-transforms shared by training and validation (fresh objects on every call)."""
    return [
        LoadImaged(keys=KEYS),
        EnsureChannelFirstd(keys=KEYS),
        Spacingd(keys=KEYS, pixdim=pixdim, mode=["bilinear", "nearest"]),
        ScaleIntensityRanged(keys="image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
        CropForegroundd(keys=KEYS, source_key="image"),
    ]


def post_transforms() -> Compose:
    """Softmax + argmax/one-hot for the prediction, one-hot for the label."""
    return Compose([
        Activationsd(keys="pred", softmax=True),
        AsDiscreted(keys=["pred", "label"], argmax=[True, False], to_onehot=2),
    ])


def build_evaluator(args: argparse.Namespace, network: torch.nn.Module, device: torch.device) -> SupervisedEvaluator:
    """Sliding-window validation on the datalist's "validation" cases, keeping the best model."""
    transforms = Compose([*deterministic_transforms(args.pixdim), EnsureTyped(keys=KEYS)])
    files = load_decathlon_datalist(args.datalist, True, "validation", base_dir=args.data_root)
    dataset = CacheDataset(data=files, transform=transforms, cache_rate=args.cache_rate, num_workers=args.num_workers,
                           progress=False)
    loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=args.num_workers)
    out = str(args.output_dir)
    handlers = [
        StatsHandler(output_transform=lambda x: None),
        TensorBoardStatsHandler(log_dir=out, output_transform=lambda x: None),
        CheckpointSaver(save_dir=out, save_dict={"model": network}, save_key_metric=True, key_metric_filename="model.pt"),
    ]
    return SupervisedEvaluator(
        device=device,
        val_data_loader=loader,
        network=network,
        inferer=SlidingWindowInferer(roi_size=args.val_roi_size, sw_batch_size=4, overlap=0.5),
        postprocessing=post_transforms(),
        key_val_metric={"val_mean_dice": MeanDice(include_background=False, output_transform=from_engine(["pred", "label"]))},
        val_handlers=handlers,
        amp=False,
    )


def build_trainer(args: argparse.Namespace, device: torch.device) -> SupervisedTrainer:
    """Model, loss, optimiser, data and handlers exactly as the bundle's train section declares them."""
    network = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=args.channels, strides=args.strides,
                   num_res_units=2, norm="batch").to(device)
    loss = DiceLoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(network.parameters(), lr=args.learning_rate)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5000, gamma=0.1)
    transforms = Compose([
        *deterministic_transforms(args.pixdim),
        RandCropByPosNegLabeld(keys=KEYS, label_key="label", spatial_size=args.patch_size, pos=1, neg=1,
                               num_samples=args.num_samples, image_key="image", image_threshold=0),
        RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
        EnsureTyped(keys=KEYS),
    ])
    files = load_decathlon_datalist(args.datalist, True, "training", base_dir=args.data_root)
    dataset = CacheDataset(data=files, transform=transforms, cache_rate=args.cache_rate, num_workers=args.num_workers,
                           progress=False)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers)
    evaluator = build_evaluator(args, network, device)
    out = str(args.output_dir)
    loss_of = from_engine(["loss"], first=True)
    handlers = [
        LrScheduleHandler(lr_scheduler=lr_scheduler, print_lr=True),
        ValidationHandler(validator=evaluator, interval=args.val_interval, epoch_level=True),
        CheckpointSaver(save_dir=out, save_dict={"model": network, "optimizer": optimizer, "lr_scheduler": lr_scheduler},
                        save_final=True, final_filename="final_model.pt"),
        StatsHandler(tag_name="train_loss", iteration_log=False, output_transform=loss_of),
        TensorBoardStatsHandler(log_dir=out, tag_name="train_loss", output_transform=loss_of),
    ]
    return SupervisedTrainer(
        device=device,
        max_epochs=args.epochs,
        train_data_loader=loader,
        network=network,
        optimizer=optimizer,
        loss_function=loss,
        inferer=SimpleInferer(),
        postprocessing=post_transforms(),
        train_handlers=handlers,
        amp=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Seed, build, attach the benchmark probe, train."""
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO)
    set_determinism(seed=args.seed)
    torch.use_deterministic_algorithms(True)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(args, device)
    FirstIterationProbe().attach(trainer)
    trainer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
