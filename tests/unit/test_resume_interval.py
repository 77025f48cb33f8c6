"""When epoch and step ends write a resume checkpoint: MMAR_RESUME_EVERY_S (parsed strictly, counted on a clock), SIGTERM, the last epoch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner.errors import BAD_INPUT_EXIT, MmarRunnerError
from runner.workflow.resume import DEFAULT_INTERVAL_S, INTERVAL_ENV, ResumeKeeper, checkpoint_interval
from runner.workflow.resume_store import Found, RunInputs, refuse_finished


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
        keeper._epoch_completed(SimpleNamespace(state=SimpleNamespace(epoch=epoch, max_epochs=None), should_terminate=False,
                                                terminate=lambda skip_completed=False: None))


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
    keeper.signalled = True
    end_epochs(keeper, clock, seconds_per_epoch=1, epochs=1)
    assert saved == [1]  # the epoch numbering restarts in end_epochs: this is the third epoch end, the first save


def fake_engine(epoch: int, iteration: int, epoch_length: int, max_epochs: int | None, stopped: list[int]) -> Any:
    """Just what the keeper reads of an ignite engine; terminate() records the epoch it was called in."""
    state = SimpleNamespace(epoch=epoch, iteration=iteration, epoch_length=epoch_length, max_epochs=max_epochs)
    return SimpleNamespace(state=state, should_terminate=False, terminate=lambda skip_completed=False: stopped.append(epoch))


def test_sigterm_at_an_epochs_last_step_waits_for_the_epoch_end_then_saves_and_stops() -> None:
    keeper, saved = keeper_on(FakeClock(), every_s=float("inf"))
    stopped: list[int] = []
    keeper.signalled = True
    keeper._iteration_completed(fake_engine(2, 4, 2, 4, stopped))  # the epoch's last step: no checkpoint yet
    assert saved == [] and stopped == [] and not keeper.preempted
    keeper._epoch_completed(fake_engine(2, 4, 2, 4, stopped))  # the flag is still set: the epoch end acts on it
    assert saved == [2] and stopped == [2] and keeper.preempted


def test_sigterm_at_the_end_of_the_last_epoch_lets_the_run_finish_without_a_checkpoint() -> None:
    keeper, saved = keeper_on(FakeClock(), every_s=0)
    stopped: list[int] = []
    keeper.signalled = True
    keeper._iteration_completed(fake_engine(4, 8, 2, 4, stopped))  # the last epoch's last step
    keeper._epoch_completed(fake_engine(4, 8, 2, 4, stopped))
    assert saved == [] and stopped == [] and not keeper.preempted  # a checkpoint here could not be continued


def test_sigterm_mid_way_through_the_last_epoch_still_stops_there() -> None:
    keeper, saved = keeper_on(FakeClock(), every_s=0)
    stopped: list[int] = []
    keeper.signalled = True
    keeper._iteration_completed(fake_engine(4, 7, 2, 4, stopped))  # a mid-epoch checkpoint resumes into the epoch
    assert saved == [4] and stopped == [4] and keeper.preempted


def finished_checkpoint(epoch: int, position: int) -> Found:
    return Found(Path("out/resume/ckpt-000000008.pt"), {"epoch": epoch, "position": position, "epoch_length": 2})


def test_a_checkpoint_from_the_end_of_the_last_epoch_is_refused() -> None:
    refuse_finished(finished_checkpoint(3, 2), max_epochs=4)  # an earlier epoch's end
    refuse_finished(finished_checkpoint(4, 1), max_epochs=4)  # mid-way through the last epoch
    with pytest.raises(MmarRunnerError) as caught:
        refuse_finished(finished_checkpoint(4, 2), max_epochs=4)
    assert caught.value.exit_code == BAD_INPUT_EXIT
    assert "ckpt-000000008.pt was written at the end of the last epoch (4 of 4)" in caught.value.render()
    assert "--fresh" in caught.value.render()
