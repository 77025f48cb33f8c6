"""Engine output that Clara 4.0-era handlers can still index by key: ``engine.state.output["loss"]``.

MONAI 0.5 (Clara Train 4.0) left a trainer's output a batched dict. Since MONAI 0.6 the engines
decollate it after each iteration into a list with one dict per sample, so a handler written for
4.0 (the BYOC page's own ``ShutDownHandler``) fails with "list indices must be integers or slices,
not str". :class:`BatchedView` is that list, unchanged for anything that treats it as a list (all
of MONAI's and ignite's handlers, metrics and ``from_engine``), that also answers a string key the
way the batched dict did: a value every sample shares (the loss) as that value, per-sample tensors
stacked along a new batch dimension.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class BatchedView(list):
    """A decollated output (``list[dict]``) that also reads and writes by key, as the batched dict did."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._collated(key)
        return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if not isinstance(key, str):
            super().__setitem__(key, value)
            return
        for item, part in zip(self, _split(value, len(self)), strict=True):
            item[key] = part

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return bool(self) and all(isinstance(item, dict) and key in item for item in self)
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            return default
        return self._collated(key)

    def keys(self) -> list[str]:
        first = next(iter(self), None)
        return list(first) if isinstance(first, dict) else []

    def _collated(self, key: str) -> Any:
        if not self or not all(isinstance(item, dict) for item in self):
            raise KeyError(key)
        values = [item[key] for item in self]  # KeyError(key), as the dict raised
        if all(_is_scalar(v) for v in values) and all(_equal(v, values[0]) for v in values[1:]):
            return values[0]  # the loss: one value for the batch, replicated per sample by decollation
        import torch

        if all(isinstance(v, torch.Tensor) for v in values):
            return torch.stack(values)
        return values


def _is_scalar(value: Any) -> bool:
    if isinstance(value, (int, float, bool)):
        return True
    return getattr(value, "ndim", None) == 0


def _equal(first: Any, second: Any) -> bool:
    try:
        return bool(first == second)
    except (TypeError, RuntimeError):
        return False


def _split(value: Any, count: int) -> Iterator[Any]:
    """One part per sample: a tensor or list with a leading batch dimension is split, anything else shared."""
    length = len(value) if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0 else None
    if length == count:
        yield from value
    else:
        for _ in range(count):
            yield value


def attach_batched_view(engine: Any) -> None:
    """Wrap ``engine.state.output`` and ``engine.state.batch`` after MONAI decollates them.

    Registered after the engine's own ``MODEL_COMPLETED`` handlers (decollation, postprocessing), so
    it runs last of them; the engine's iteration then returns the wrapped output, which becomes
    ``engine.state.output`` for every ``ITERATION_COMPLETED`` handler.
    """
    from monai.engines import IterationEvents

    def wrap(engine: Any) -> None:
        state = engine.state
        for name in ("output", "batch"):
            value = getattr(state, name, None)
            if type(value) is list and value and all(isinstance(item, dict) for item in value):
                setattr(state, name, BatchedView(value))

    engine.add_event_handler(IterationEvents.MODEL_COMPLETED, wrap)
