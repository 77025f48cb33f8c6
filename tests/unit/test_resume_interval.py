"""How often epoch ends write a resume checkpoint: MMAR_RESUME_EVERY_S, parsed strictly, counted on a clock."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner.errors import BAD_INPUT_EXIT, MmarRunnerError
from runner.workflow.resume import DEFAULT_INTERVAL_S, INTERVAL_ENV, ResumeKeeper, checkpoint_interval
from runner.workflow.resume_store import RunInputs


def test_interval_default_zero_fractions_and_infinity() -> None:
    assert checkpoint_interval({}) == DEFAULT_INTERVAL_S == 60.0
    assert checkpoint_interval({INTERVAL_ENV: "  "}) == DEFAULT_INTERVAL_S
    assert checkpoint_interval({INTERVAL_ENV: "0"}) == 0.0
    assert checkpoint_interval({INTERVAL_ENV: "2.5"}) == 2.5
    assert checkpoint_interval({INTERVAL_ENV: "inf"}) == float("inf")  # SIGTERM checkpoints only


@pytest.mark.parametrize("raw", ["-1", "ten", "nan", "1m"])
def test_a_bad_interval_is_bad_input_naming_the_variable(raw: str) -> None:
    with pytest.raises(MmarRunnerError) as caught:
        checkpoint_interval({INTERVAL_ENV: raw})
    assert caught.value.exit_code == BAD_INPUT_EXIT
    assert f"{INTERVAL_ENV}={raw!r}" in caught.value.render()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keeper_on(clock: FakeClock, every_s: float) -> tuple[ResumeKeeper, list[int]]:
    """A keeper that records the epochs it saved at; as a non-main rank, its real save() writes no file."""
    keeper = ResumeKeeper(Path("unused"), builder=None, trainer=None, evaluator=None, record=None, inputs=RunInputs("d"),
                          is_main=False, every_s=every_s, clock=clock)
    saved: list[int] = []
    real_save = keeper.save

    def save(engine: Any) -> Any:
        saved.append(engine.state.epoch)
        return real_save(engine)

    keeper.save = save  # type: ignore[method-assign]
    return keeper, saved


def end_epochs(keeper: ResumeKeeper, clock: FakeClock, seconds_per_epoch: float, epochs: int) -> None:
    for epoch in range(1, epochs + 1):
        clock.now += seconds_per_epoch
        keeper._epoch_completed(SimpleNamespace(state=SimpleNamespace(epoch=epoch), terminate=lambda skip_completed=False: None))


def test_short_epochs_checkpoint_once_per_interval() -> None:
    clock = FakeClock()
    keeper, saved = keeper_on(clock, every_s=60)
    end_epochs(keeper, clock, seconds_per_epoch=25, epochs=10)  # 25, 50, 75 ... 250 s
    assert saved == [3, 6, 9]  # 75 s, then 150 s, then 225 s: never more than one per 60 s


def test_zero_checkpoints_every_epoch_and_long_epochs_always_do() -> None:
    clock = FakeClock()
    keeper, saved = keeper_on(clock, every_s=0)
    end_epochs(keeper, clock, seconds_per_epoch=0.5, epochs=4)
    assert saved == [1, 2, 3, 4]
    clock = FakeClock()
    keeper, saved = keeper_on(clock, every_s=60)
    end_epochs(keeper, clock, seconds_per_epoch=90, epochs=3)
    assert saved == [1, 2, 3]


def test_preemption_checkpoints_at_the_epoch_end_whatever_the_interval() -> None:
    clock = FakeClock()
    keeper, saved = keeper_on(clock, every_s=float("inf"))
    end_epochs(keeper, clock, seconds_per_epoch=1, epochs=2)
    keeper.preempted = True
    end_epochs(keeper, clock, seconds_per_epoch=1, epochs=1)
    assert saved == [1]  # the epoch numbering restarts in end_epochs: this is the third epoch end, the first save
