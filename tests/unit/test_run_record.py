"""RunRecord reads the learning rate each epoch began with; TensorBoard gets it through the wiring's state_attributes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from runner.workflow.handlers import LEARNING_RATE_ATTRIBUTE, RunRecord, current_learning_rate


def _trainer(optimizer: torch.optim.Optimizer) -> Any:
    """An ignite engine whose every step is an optimizer step on a one-weight model, loss = 1.0."""
    from ignite.engine import Engine

    def step(engine: Any, batch: Any) -> dict[str, Any]:
        optimizer.zero_grad()
        optimizer.step()
        return {"loss": torch.tensor(1.0)}

    return Engine(step)


def test_the_rate_of_each_epoch_is_the_one_it_began_with(tmp_path: Path) -> None:
    from ignite.engine import Events
    from monai.handlers import LrScheduleHandler, TensorBoardStatsHandler
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    trainer = _trainer(optimizer)
    # attached before the record, as the config's train handlers are: the scheduler steps at each epoch's end
    LrScheduleHandler(torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5), print_lr=False).attach(trainer)
    board = TensorBoardStatsHandler(log_dir=str(tmp_path), state_attributes=[LEARNING_RATE_ATTRIBUTE], output_transform=lambda _: None)
    board.attach(trainer)
    record = RunRecord()
    record.attach(trainer, None, 3, show_progress=False, optimizer=optimizer)
    seen: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(getattr(e.state, LEARNING_RATE_ATTRIBUTE)))
    trainer.run([0, 1], max_epochs=3)
    board.close()

    assert record.epoch_learning_rates == pytest.approx([0.1, 0.05, 0.025])
    assert seen == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert record.train_stats(1.0)["learning_rate_per_epoch"] == record.epoch_learning_rates
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    logged = events.Scalars(LEARNING_RATE_ATTRIBUTE)
    assert [event.step for event in logged] == [1, 2, 3]
    assert [event.value for event in logged] == pytest.approx([0.1, 0.05, 0.025])


def test_without_an_optimizer_the_rate_is_null_in_the_stats_and_nan_on_the_state() -> None:
    trainer = _trainer(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))  # an engine with no .optimizer
    record = RunRecord()
    record.attach(trainer, None, 1, show_progress=False)
    trainer.run([0], max_epochs=2)
    assert record.epoch_learning_rates == [None, None]
    assert math.isnan(getattr(trainer.state, LEARNING_RATE_ATTRIBUTE))
    assert record.summary()["final_loss"] == 1.0


def test_current_learning_rate_reads_the_first_group() -> None:
    first, second = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([{"params": [first], "lr": 0.003}, {"params": [second], "lr": 0.1}])
    assert current_learning_rate(optimizer) == 0.003
    assert current_learning_rate(None) is None
