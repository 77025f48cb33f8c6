"""The BYOC contract helpers: legacy event hook, **kwargs-forwarding signatures, iteration checks."""

from __future__ import annotations

import inspect

import pytest
import torch
from ignite.engine import EventEnum
from monai.engines import SupervisedTrainer

from runner.components.contracts import CheckedIteration, handler_problem, with_legacy_event_hook
from runner.components.resolve import accepts, named_parameters
from runner.errors import ComponentError


class Extra(EventEnum):
    DONE = "done"


class LegacyTrainer(SupervisedTrainer):
    def _register_additional_events(self):
        super()._register_additional_events()
        self.register_events(*Extra)


class ForwardingTrainer(SupervisedTrainer):
    def __init__(self, *args, tag: str = "x", **kwargs):
        super().__init__(*args, **kwargs)
        self.tag = tag


class OnDone:
    def __init__(self) -> None:
        self.calls = 0

    def attach(self, engine):  # type: ignore[no-untyped-def]
        engine.add_event_handler(Extra.DONE, self)

    def __call__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1


def tiny_trainer_args() -> dict:
    net = torch.nn.Linear(2, 2)
    return {"device": torch.device("cpu"), "max_epochs": 1, "train_data_loader": [], "network": net,
            "optimizer": torch.optim.SGD(net.parameters(), lr=0.1), "loss_function": torch.nn.MSELoss()}


def test_legacy_hook_runs_before_handlers_attach() -> None:
    with pytest.raises(ValueError, match="not a valid event"):
        LegacyTrainer(**tiny_trainer_args(), train_handlers=[OnDone()])  # what today's MONAI alone does
    cls = with_legacy_event_hook(LegacyTrainer)
    handler = OnDone()
    trainer = cls(**tiny_trainer_args(), train_handlers=[handler])
    trainer.fire_event(Extra.DONE)
    assert handler.calls == 1
    assert isinstance(trainer, LegacyTrainer) and cls.__name__ == "LegacyTrainer"
    assert inspect.signature(cls) == inspect.signature(LegacyTrainer)
    assert Extra.DONE in cls(**tiny_trainer_args())._allowed_events  # also without any handler


def test_classes_without_the_hook_are_left_alone() -> None:
    assert with_legacy_event_hook(SupervisedTrainer) is SupervisedTrainer
    assert with_legacy_event_hook(ForwardingTrainer) is ForwardingTrainer


def test_kwargs_forwarding_subclass_accepts_the_base_parameters() -> None:
    names = named_parameters(ForwardingTrainer)
    assert "tag" in names and "device" in names and "train_data_loader" in names
    assert accepts(ForwardingTrainer, "network") and not accepts(ForwardingTrainer, "bogus")


def test_handler_problem() -> None:
    assert handler_problem(OnDone, "OnDone") is None
    problem = handler_problem(Extra, "Extra")
    assert problem is not None and "test_contracts.py, line" in problem and "has no attach(engine)" in problem


def test_checked_iteration() -> None:
    def good(engine, batch):  # type: ignore[no-untyped-def]
        return [{"loss": 1.0}]

    def bad(engine, batch):  # type: ignore[no-untyped-def]
        return {"pred": 1}

    assert CheckedIteration(good, True, "good", "c.json", "train.iteration")(None, None) == [{"loss": 1.0}]
    assert CheckedIteration(bad, False, "bad", "c.json", "validate.iteration")(None, None) == {"pred": 1}
    with pytest.raises(ComponentError, match=r"train.iteration: bad \(.*test_contracts.py, line \d+\) returned a dict with keys \['pred'\]"):
        CheckedIteration(bad, True, "bad", "c.json", "train.iteration")(None, None)
    with pytest.raises(ComponentError, match="an evaluator iteration must return a dict"):
        CheckedIteration(lambda e, b: None, False, "f", "c.json", "validate.iteration")(None, None)


