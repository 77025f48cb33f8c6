"""BYOW: bring your own workflow. The whole training loop is this class; the config only passes args.

config/config_train.json is the BYOC page's BYOW example, byte for byte: it passes ``model_path``,
``amp``, ``num_epochs`` and ``lr`` and nothing else, so this class finds its data the way the MMAR's
own scripts do, through DATA_ROOT and DATASET_JSON in config/environment.json (which also sets
this bundle's small ``epochs`` and ``learning_rate``: environment.json overrides the config's).

The runner still pins determinism and seeds torch, numpy and random before this class is built,
calls ``run()``, digests ``self.network`` and writes the run manifest. What the runner cannot see
(the transforms and data loader made here) this class seeds itself from the run's torch seed.
"""

import json
import logging
import os
from pathlib import Path

import torch
from monai.data import CacheDataset, DataLoader, load_decathlon_datalist
from monai.data.utils import worker_init_fn
from monai.losses import DiceLoss
from monai.networks.nets import UNet
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    RandCropByPosNegLabeld,
    ScaleIntensityRanged,
)

logger = logging.getLogger(__name__)
KEYS = ["image", "label"]
MMAR_ROOT = Path(__file__).resolve().parents[1]  # custom/ sits in the MMAR root


def data_locations() -> tuple[str, str]:
    """DATASET_JSON and DATA_ROOT from the MMAR's environment.json, relative paths against the MMAR root."""
    environment = json.loads((MMAR_ROOT / "config" / "environment.json").read_text())
    return tuple(str(MMAR_ROOT / environment[key]) for key in ("DATASET_JSON", "DATA_ROOT"))


class Trainer:
    def __init__(self, model_path: str, amp: bool, num_epochs: int, lr: float, patch_size=(32, 32, 32), batch_size: int = 2):
        self.model_path = Path(model_path)
        self.amp = amp
        self.num_epochs = num_epochs
        self.lr = lr
        self.seed = seed = torch.initial_seed() % 2**32  # the runner seeded torch with the run's seed
        data_list, data_root = data_locations()
        self.device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
        self.network = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(8, 16, 32), strides=(2, 2),
                            num_res_units=1, norm="batch").to(self.device)
        transforms = Compose([
            LoadImaged(keys=KEYS),
            EnsureChannelFirstd(keys=KEYS),
            ScaleIntensityRanged(keys="image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
            RandCropByPosNegLabeld(keys=KEYS, label_key="label", spatial_size=patch_size, pos=1, neg=1, num_samples=2),
            EnsureTyped(keys=KEYS),
        ]).set_random_state(seed=seed)
        files = load_decathlon_datalist(data_list, True, "training", base_dir=data_root)
        dataset = CacheDataset(files, transforms, cache_rate=1.0, num_workers=0, progress=False)
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0,
                                 generator=torch.Generator().manual_seed(seed), worker_init_fn=worker_init_fn)
        self.loss = DiceLoss(to_onehot_y=True, softmax=True)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=lr)

    def run(self):
        use_amp = self.amp and self.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        for epoch in range(1, self.num_epochs + 1):
            self.network.train()
            total, steps = 0.0, 0
            for batch in self.loader:
                image, label = batch["image"].to(self.device), batch["label"].to(self.device)
                self.optimizer.zero_grad()
                with torch.autocast(self.device.type, enabled=use_amp):
                    loss = self.loss(self.network(image), label)
                scaler.scale(loss).backward()
                scaler.step(self.optimizer)
                scaler.update()
                total, steps = total + float(loss.detach()), steps + 1
            logger.info("byow epoch %d/%d  loss %.4f", epoch, self.num_epochs, total / steps)
        self.save()

    def save(self):
        """Atomically: a reader never sees half a checkpoint."""
        self.model_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.model_path.with_name(self.model_path.name + ".tmp")
        torch.save({"model": self.network.state_dict()}, tmp)
        os.replace(tmp, self.model_path)
