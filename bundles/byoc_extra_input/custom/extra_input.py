"""Bring extra input data for the network: the Clara Train BYOC example, as the BYOC page prints it.

The two classes between the markers are the page's code, byte for byte (3-space indents and all);
only the imports above them are added. The page's network has no weights of its own, so the
bundle trains ``ExtraInputUNet`` (below the markers): the page's ``ExtraInputNet`` feeding a UNet.
The batch carries an ``extra`` tensor beside the image (a smoothed copy of the image, made by the
pre-transforms); ``ExtraInputHandler`` puts it on the network at ITERATION_STARTED.
"""

import torch
from ignite.engine import Events
from monai.networks.nets import UNet

# ---- seed/clara-train-byoc.txt: "Bring extra input data for the network" ----
class ExtraInputNet(torch.nn.Module):
   def __init__(self):
       super().__init__()
       self.extra_tensor = None

   def forward(self, image):
       return image + self.extra_tensor


class ExtraInputHandler:
   def attach(self, engine):
       engine.add_event_handler(Events.ITERATION_STARTED, self)

   def __call__(self, engine):
       engine.network.extra_tensor = engine.state.batch["extra"].to(engine.state.device)
# ---- end of the seed's code ----


class ExtraInputUNet(ExtraInputNet):
    """The seed's ExtraInputNet (image + extra tensor) in front of a UNet, so there are weights to train."""

    def __init__(self, **unet_args):
        super().__init__()
        self.unet = UNet(**unet_args)

    def forward(self, image):
        return self.unet(super().forward(image))
