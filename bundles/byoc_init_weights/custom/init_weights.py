"""Keep the network's initial weights for the loss: the Clara Train BYOC example.

The handler between the markers is the BYOC page's, byte for byte: it copies the weights at
STARTED, before the first optimizer step. The page marks its loss "fake code" (it adds a dict to a
tensor), so ``LossWithWeights`` here is a working stand-in with the same ``init_weights``
attribute: Dice plus an L2 pull towards the initial weights (the "L2-SP" regulariser of fine-tuning).
"""

import copy

import torch
from ignite.engine import Events
from monai.losses import DiceLoss


class LossWithWeights(torch.nn.Module):
    """Dice loss + ``weight`` * mean squared distance of the parameters from their initial values.

    ``parameters`` maps names to the live parameters (``"#dict(@model.named_parameters())"`` in the
    config); it is a plain dict, so the network does not become a submodule of the loss.
    """

    def __init__(self, parameters, weight=1.0, **dice_args):
        super().__init__()
        self.dice = DiceLoss(**dice_args)
        self.parameters_by_name = parameters
        self.weight = weight
        self.init_weights = None
        self.last_penalty = None

    def forward(self, pred, label):
        if self.init_weights is None:
            raise RuntimeError("init_weights is not set: SaveInitWeightsHandler must be in train.handlers")
        squared = [((p - self.init_weights[name].to(p.device)) ** 2).sum() for name, p in self.parameters_by_name.items()]
        count = sum(p.numel() for p in self.parameters_by_name.values())
        penalty = torch.stack(squared).sum() / count
        self.last_penalty = float(penalty.detach())
        return self.dice(pred, label) + self.weight * penalty


# ---- seed/clara-train-byoc.txt: "Keep init weights of the network for loss" (its handler) ----
class SaveInitWeightsHandler:
   def attach(self, engine):
       engine.add_event_handler(Events.STARTED, self)

   def __call__(self, engine):
       engine.loss_function.init_weights = copy.deepcopy(engine.network.state_dict())
# ---- end of the seed's code ----
