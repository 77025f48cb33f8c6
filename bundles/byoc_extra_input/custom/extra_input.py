"""Bring extra input data for the network (Clara Train BYOC example).

The batch carries an ``extra`` tensor beside the image (here a smoothed copy of the image made by
the pre-transforms). A handler puts it on the network at ITERATION_STARTED, before the trainer's
forward pass; the network uses it as a second input channel.
"""

import torch
from ignite.engine import Events
from monai.networks.nets import UNet


class ExtraInputNet(torch.nn.Module):
    """A UNet over the image and the extra tensor, stacked as channels (``in_channels`` counts both)."""

    def __init__(self, **unet_args):
        super().__init__()
        self.unet = UNet(**unet_args)
        self.extra_tensor = None

    def forward(self, image):
        if self.extra_tensor is None:
            raise RuntimeError("extra_tensor is not set: ExtraInputHandler must be in train.handlers")
        return self.unet(torch.cat([image, self.extra_tensor], dim=1))


class ExtraInputHandler:
    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_STARTED, self)

    def __call__(self, engine):
        engine.network.extra_tensor = engine.state.batch["extra"].to(engine.state.device)
