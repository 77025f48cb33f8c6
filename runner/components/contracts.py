"""What the runner requires of bring-your-own components, checked where the user can be told.

MONAI would otherwise fail deep inside its engines with an ``AttributeError`` that names neither
the config entry nor the user's file. Each check here raises ``ComponentError`` with the config
path and the file and line that define the offending class or function.

It also keeps Clara-era custom trainers working: they registered their own events by overriding
``_register_additional_events``, a hook MONAI removed in 0.6 (today's engines take
``event_names``). :func:`with_legacy_event_hook` calls the override again, before handlers attach.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from runner.components.registry import definition_site
from runner.errors import ComponentError

LEGACY_EVENT_HOOK = "_register_additional_events"


# ---- handlers -------------------------------------------------------------------------------
def handler_problem(target: Any, label: str) -> str | None:
    """Why ``target`` (a class or an instance) cannot be a handler, or None if it can."""
    attach = getattr(target, "attach", None)
    if callable(attach):
        return None
    return f"{label}{definition_site(target)} has no attach(engine) method, so it cannot be a handler"


HANDLER_HINT = "a handler registers itself: def attach(self, engine): engine.add_event_handler(Events.ITERATION_COMPLETED, self)"


def require_handler(obj: Any, label: str, file: str, config_path: str) -> None:
    problem = handler_problem(obj, label)
    if problem:
        raise ComponentError(file, config_path, problem, HANDLER_HINT)


# ---- iterations -----------------------------------------------------------------------------
def _has_loss(output: Any) -> bool:
    if isinstance(output, dict):
        return output.get("loss") is not None
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], dict):
        return output[0].get("loss") is not None
    return False


def _describe(output: Any) -> str:
    if isinstance(output, dict):
        return f"a dict with keys {sorted(map(str, output))}"
    return "None" if output is None else f"a {type(output).__name__}"


class CheckedIteration:
    """Wraps a custom iteration so a wrong return value is reported as the user's bug, with its place.

    A training iteration must return its loss under ``"loss"``; an evaluator iteration a dict (or a
    list of dicts). The check is a dict lookup per iteration.
    """

    def __init__(self, iteration: Any, training: bool, label: str, file: str, config_path: str) -> None:
        self.iteration = iteration
        self.training = training
        self.label = label
        self.file = file
        self.config_path = config_path

    def __call__(self, engine: Any, batchdata: Any) -> Any:
        output = self.iteration(engine, batchdata)
        if self.training and not _has_loss(output):
            self._fail(output, "a training iteration must return a dict with the loss under 'loss'")
        if not self.training and not isinstance(output, (dict, list, tuple)):
            self._fail(output, "an evaluator iteration must return a dict (e.g. {'image', 'label', 'pred'})")
        return output

    def _fail(self, output: Any, rule: str) -> None:
        site = definition_site(_callable_body(self.iteration))
        raise ComponentError(self.file, self.config_path, f"{self.label}{site} returned {_describe(output)}; {rule}",
                             hint="return {'image': ..., 'label': ..., 'pred': pred, 'loss': loss}")


def _callable_body(obj: Any) -> Any:
    """The function whose source to point at: a function itself, else its class's ``__call__``."""
    if inspect.isroutine(obj):
        return obj
    call = next((vars(c)["__call__"] for c in type(obj).__mro__ if "__call__" in vars(c)), None)
    return call if inspect.isfunction(call) else obj


def require_iteration(obj: Any, label: str, file: str, config_path: str) -> None:
    if not callable(obj):
        raise ComponentError(file, config_path, f"{label}{definition_site(obj)} is not callable as iteration(engine, batchdata)",
                             hint="define __call__(self, engine, batchdata) returning a dict")


# ---- Clara-era custom trainers ---------------------------------------------------------------
def defines_legacy_event_hook(target: Any) -> bool:
    """Whether a Workflow subclass overrides the hook MONAI no longer calls."""
    if not inspect.isclass(target):
        return False
    from monai.engines import Workflow

    if not issubclass(target, Workflow) or hasattr(Workflow, LEGACY_EVENT_HOOK):
        return False
    return any(LEGACY_EVENT_HOOK in vars(cls) for cls in target.__mro__ if cls is not Workflow)


class _LegacyHookBase:
    """End of the ``super()._register_additional_events()`` chain: MONAI registers IterationEvents itself now."""

    def _register_additional_events(self) -> None:
        return None


def with_legacy_event_hook(target: Any) -> Any:
    """``target`` itself, or a subclass that runs its ``_register_additional_events`` before handlers attach.

    The subclass keeps the name, module and constructor signature of ``target`` (the implicit
    wiring reads the signature), and ``isinstance(obj, target)`` still holds.
    """
    if not defines_legacy_event_hook(target):
        return target

    class LegacyEventHook(target, _LegacyHookBase):  # type: ignore[misc, valid-type]
        @functools.wraps(target.__init__)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._register_legacy_events_once()

        def _register_handlers(self, handlers: Any) -> None:
            self._register_legacy_events_once()
            super()._register_handlers(handlers)

        def _register_legacy_events_once(self) -> None:
            if not self.__dict__.get("_legacy_events_registered"):
                self.__dict__["_legacy_events_registered"] = True
                getattr(self, LEGACY_EVENT_HOOK)()

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(LegacyEventHook, attribute, getattr(target, attribute))
    return LegacyEventHook
