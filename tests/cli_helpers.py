"""Run the CLI in-process, the way the ``mmar`` entry point does (argv expansion included)."""

from __future__ import annotations

from typer.testing import CliRunner

from runner.argv import expand_set_words
from runner.cli import app


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, expand_set_words(list(args)), catch_exceptions=False)
