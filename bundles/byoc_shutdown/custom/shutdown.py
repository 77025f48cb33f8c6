"""Shut the program down when the loss falls below 0.5: the Clara Train BYOC example, as printed.

The code between the markers is the BYOC page's, byte for byte. It was written for Clara Train
4.0, whose trainer output was one dict for the batch. MONAI has since decollated it into one dict
per sample; for an MMAR the runner hands handlers a list that still answers
``engine.state.output["loss"]`` with the batch's loss (runner/legacy/batched_output.py).
"""

import logging

from ignite.engine import Events

logger = logging.getLogger(__name__)

# ---- seed/clara-train-byoc.txt: "Shutdown program if loss < 0.5" ----
class ShutDownHandler:
   def attach(self, engine):
       engine.add_event_handler(Events.ITERATION_COMPLETED, self)

   def __call__(self, engine):
       if engine.state.output["loss"] < 0.5:
           engine.terminate()
# ---- end of the seed's code ----


class ShutDownReport:
    """Says why training stopped (the seed's handler terminates silently)."""

    def attach(self, engine):
        engine.add_event_handler(Events.TERMINATE, self)

    def __call__(self, engine):
        logger.info("loss %.4f < 0.5 at iteration %d: stopping", float(engine.state.output["loss"]), engine.state.iteration)
