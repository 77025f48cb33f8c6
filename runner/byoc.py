"""The public API for bring-your-own-component code in an MMAR's ``custom/`` folder.

Everything else a BYOC module needs comes from MONAI, ignite and torch directly. What lives here
is the contract the runner checks on your behalf:

* an **iteration** is any callable ``(engine, batchdata) -> dict``, used as the trainer's or the
  evaluator's ``iteration_update``. A training iteration must return the loss under ``"loss"``
  (the runner records it, handlers read it); ``"image"``, ``"label"`` and ``"pred"`` are the
  conventional other keys. Subclassing :class:`Iteration` is optional; it makes the contract
  explicit and is what Clara Train's ``medl.engines.iterations.Iteration`` now resolves to.
* a **handler** is any object with ``attach(engine)`` that registers itself on ignite or MONAI
  events (``Events.*``, ``IterationEvents.*`` or a trainer's own ``EventEnum``).
"""

from __future__ import annotations

import abc
from typing import Any


class Iteration(abc.ABC):
    """Base class for a custom iteration: ``__call__(engine, batchdata)`` does one step.

    The engine gives you what the config built: ``engine.network``, ``engine.optimizer``,
    ``engine.loss_function``, ``engine.inferer``, ``engine.prepare_batch``,
    ``engine.state.device`` and ``engine.non_blocking``. Fire ``IterationEvents`` yourself
    (``engine.fire_event(IterationEvents.FORWARD_COMPLETED)``) if handlers should see them; MONAI
    fires them only in its own iteration.
    """

    @abc.abstractmethod
    def __call__(self, engine: Any, batchdata: Any) -> dict[str, Any]:
        """Run one iteration and return its outputs (``{"image", "label", "pred", "loss"}`` when training)."""
