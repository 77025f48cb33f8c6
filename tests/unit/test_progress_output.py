"""A log line during training is written above the progress bar, not onto the end of its line (issue 19, item 9)."""

from __future__ import annotations

import io
import logging

import pytest

from runner.cli import _AboveProgressBar, _Formatter


def run_with_bar(handler_class: type[logging.Handler]) -> str:
    """Two iterations under ignite's ProgressBar; a line is logged in the middle of the epoch."""
    from ignite.engine import Engine, Events
    from ignite.handlers import ProgressBar

    stream = io.StringIO()
    handler = handler_class(stream)  # type: ignore[call-arg]
    handler.setFormatter(_Formatter())
    log = logging.getLogger("tests.progress")
    log.addHandler(handler)
    log.propagate = False
    try:
        engine = Engine(lambda engine, batch: 0.5)
        ProgressBar(persist=False, file=stream, mininterval=0).attach(engine, output_transform=lambda out: {"loss": out})
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), lambda _: log.warning("a line mid-epoch"))
        engine.run([1, 2], max_epochs=1)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_a_line_logged_mid_epoch_starts_on_a_line_of_its_own() -> None:
    shown = run_with_bar(_AboveProgressBar)
    before = shown[:shown.index("warning: a line mid-epoch")]
    assert "1/2" in before, f"the bar was drawn first: {shown!r}"
    assert before.endswith(("\r", "\n")), f"the line ran into the bar: {shown!r}"


def test_without_it_the_line_runs_into_the_bar() -> None:
    """What the test above guards against, shown with the standard handler."""
    shown = run_with_bar(logging.StreamHandler)
    before = shown[:shown.index("warning: a line mid-epoch")]
    if before.endswith(("\r", "\n")):
        pytest.fail(f"the standard handler no longer runs into the bar; the test above proves nothing: {shown!r}")
