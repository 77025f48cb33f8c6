"""The collector switches: paused only when the entry point asks, back on (and frozen) before the loop."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from runner import collector


@pytest.fixture(autouse=True)
def _restore_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(collector, "_paused", False)
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_startup_pause_then_frozen_and_collecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(collector.ENV_SWITCH, raising=False)
    gc.enable()
    gc.unfreeze()
    collector.pause_for_startup()
    assert not gc.isenabled()
    made_at_startup = [object() for _ in range(10)]  # noqa: F841 - long-lived start-up objects
    collector.startup_done()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    collector.startup_done()  # a second call (evaluation after training) changes nothing
    assert gc.isenabled()


def test_library_use_is_left_alone() -> None:
    """Without the entry point's pause, starting a loop neither freezes nor re-enables anything."""
    gc.disable()
    gc.unfreeze()
    collector.startup_done()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_switched_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(collector.ENV_SWITCH, value)
    gc.enable()
    gc.unfreeze()
    collector.pause_for_startup()
    assert gc.isenabled()
    collector.before_exit()
    assert gc.get_freeze_count() == 0
