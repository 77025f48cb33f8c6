"""Do optimizer.step() every 10 iterations: the Clara Train BYOC custom iteration, as printed.

The code between the markers is the BYOC page's, byte for byte, Clara Train's own import
included: mmar-runner provides ``medl.engines.iterations.Iteration`` (it is
``runner.byoc.Iteration``), so files written for Clara run without edits. As printed, the
iteration zeroes the gradients on every iteration, so each step uses the tenth batch's gradient.
"""

# ---- seed/clara-train-byoc.txt: "Do optimizer.step() every 10 iterations" ----
from medl.engines.iterations import Iteration

class AccumulateIteration(Iteration):
   def __call__(self, engine, batchdata):
       batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking)
       engine.network.train()
       engine.optimizer.zero_grad()

       pred = engine.inferer(batch[0], engine.network)
       loss = engine.loss_function(pred, batch[1])
       loss.backward()
       if engine.state.iteration % 10 == 0:
           engine.optimizer.step()

       return {"image": batch[0], "label": batch[1], "pred": pred, "loss": loss}
# ---- end of the seed's code ----
