"""Customize SupervisedTrainer: a trainer with its own event (Clara Train BYOC example).

``CustomTrainer`` accumulates gradients over ``accumulation_steps`` iterations (MONAI's own
argument) and fires ``CustomEvents.ACCUMULATE_COMPLETED`` after every optimizer step;
``AccumulationLogger`` is a handler attached to that event.
"""

import logging

import torch
from ignite.engine import EventEnum
from monai.engines import SupervisedTrainer

logger = logging.getLogger(__name__)


class CustomEvents(EventEnum):
    ACCUMULATE_COMPLETED = "accumulate_completed"


class CustomTrainer(SupervisedTrainer):
    def _register_additional_events(self):
        super()._register_additional_events()
        self.register_events(*CustomEvents)

    def _iteration(self, engine, batchdata):
        output = super()._iteration(engine, batchdata)
        # MONAI steps at the end of each window of accumulation_steps, and at the end of the epoch.
        position = (engine.state.iteration - 1) % engine.state.epoch_length + 1
        if position % engine.accumulation_steps == 0 or position == engine.state.epoch_length:
            engine.fire_event(CustomEvents.ACCUMULATE_COMPLETED)
        return output


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
