"""Do optimizer.step() every N iterations (Clara Train BYOC example: a custom iteration).

The import below is Clara Train's; mmar-runner provides it so files written for Clara run without
edits. New code can write ``from runner.byoc import Iteration`` (the same class).
"""

from medl.engines.iterations import Iteration


class AccumulateIteration(Iteration):
    """Gradient accumulation: gradients of ``every_n`` iterations are summed, then one step.

    Clara's example zeroed the gradients on every iteration, which stepped on the last batch's
    gradient alone; here they are zeroed after each step, and each loss is scaled by 1/N so the
    step size does not grow with N.
    """

    def __init__(self, every_n=10):
        self.every_n = every_n

    def __call__(self, engine, batchdata):
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking)
        engine.network.train()

        pred = engine.inferer(batch[0], engine.network)
        loss = engine.loss_function(pred, batch[1])
        (loss / self.every_n).backward()
        if engine.state.iteration % self.every_n == 0:
            engine.optimizer.step()
            engine.optimizer.zero_grad()

        return {"image": batch[0], "label": batch[1], "pred": pred, "loss": loss}
