"""Customize SupervisedTrainer: a trainer with its own event, the Clara Train BYOC example as printed.

The code between the markers is the BYOC page's, byte for byte. Its ``_register_additional_events``
is a hook MONAI removed in 0.6; the runner still calls it before any handler attaches. Below the
markers (ours): ``FireAccumulateCompleted`` fires the new event after every optimizer step of
MONAI's gradient accumulation, and ``AccumulationLogger`` is a handler attached to that event.
"""

import logging

import torch
from ignite.engine import Events

# ---- seed/clara-train-byoc.txt: "Customize SupervisedTrainer" ----
from ignite.engine import EventEnum
from monai.engines import SupervisedTrainer


class CustomEvents(EventEnum):
   ACCUMULATE_COMPLETED = "accumulate_completed"


class CustomTrainer(SupervisedTrainer):
   def _register_additional_events(self):
       super()._register_additional_events()
       self.register_events(*CustomEvents)
# ---- end of the seed's code ----

logger = logging.getLogger(__name__)


class FireAccumulateCompleted:
    """Fires ACCUMULATE_COMPLETED where MONAI steps: every ``accumulation_steps`` iterations and at each epoch end."""

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine):
        position = (engine.state.iteration - 1) % engine.state.epoch_length + 1
        if position % engine.accumulation_steps == 0 or position == engine.state.epoch_length:
            engine.fire_event(CustomEvents.ACCUMULATE_COMPLETED)


class AccumulationLogger:
    """Logs the accumulated gradient's norm at every optimizer step."""

    def __init__(self):
        self.steps = 0

    def attach(self, engine):
        engine.add_event_handler(CustomEvents.ACCUMULATE_COMPLETED, self)

    def __call__(self, engine):
        self.steps += 1
        grads = [p.grad.norm() for p in engine.network.parameters() if p.grad is not None]
        norm = float(torch.stack(grads).norm()) if grads else 0.0
        logger.info("accumulate_completed: optimizer step %d at iteration %d, gradient norm %.4f",
                    self.steps, engine.state.iteration, norm)
