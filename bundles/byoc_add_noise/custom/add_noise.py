"""Add noise to predictions before the loss (Clara Train BYOC example).

MONAI's SupervisedTrainer fires ``IterationEvents.FORWARD_COMPLETED`` between the forward pass
and the loss, with the prediction in ``engine.state.output["pred"]``; what a handler leaves there
is what the loss sees.
"""

import torch
from monai.engines import IterationEvents


class AddNoiseHandler:
    """Gaussian noise of standard deviation ``std`` on the logits (a simple output regulariser).

    The Clara example added a constant 1.0; after a softmax a constant changes nothing, so the
    noise here is random, drawn from torch's global generator, which the runner seeds.
    """

    def __init__(self, std=0.5):
        self.std = std

    def attach(self, engine):
        engine.add_event_handler(IterationEvents.FORWARD_COMPLETED, self)

    def __call__(self, engine):
        pred = engine.state.output["pred"]
        # Out of place: an in-place += breaks autograd when the last layer's backward needs its output.
        engine.state.output["pred"] = pred + self.std * torch.randn_like(pred)
