"""Add noise to predictions before the loss: the Clara Train BYOC example, as the BYOC page prints it.

The code between the markers is the page's, byte for byte. MONAI's SupervisedTrainer fires
``IterationEvents.FORWARD_COMPLETED`` between the forward pass and the loss, with the prediction in
``engine.state.output["pred"]``; what the handler leaves there is what the loss sees. The page adds
a constant 1.0 to the logits; the bundle's loss reads them through a sigmoid, where that shift
counts (a softmax would cancel it).
"""

# ---- seed/clara-train-byoc.txt: "Add noise to predictions before loss" ----
from monai.engines import IterationEvents

class AddNoiseHandler:
   def attach(self, engine):
       engine.add_event_handler(IterationEvents.FORWARD_COMPLETED, self)

   def __call__(self, engine):
       engine.state.output["pred"] += 1.0
# ---- end of the seed's code ----
