"""Shut the program down when the loss falls below a threshold (Clara Train BYOC example)."""

import logging

from ignite.engine import Events

logger = logging.getLogger(__name__)


class ShutDownHandler:
    def __init__(self, threshold=0.5):
        self.threshold = threshold

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine):
        output = engine.state.output
        # MONAI's trainer decollates its output after each iteration into one dict per sample;
        # every item carries the batch loss. A custom iteration may leave it a single dict.
        if isinstance(output, list):
            output = output[0]
        loss = float(output["loss"])
        if loss < self.threshold:
            logger.info("loss %.4f < %s at iteration %d: stopping", loss, self.threshold, engine.state.iteration)
            engine.terminate()
