"""What a user sees of a training run is what they can act on (issue 19, item 9): no MONAI lines repeating the
runner's epoch line, one line (not torch's one per DataLoader) about more workers than CPUs, each hint once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.report import render_warnings
from runner.errors import ConfigIssue
from runner.workflow.common import cpus_available
from tests.conftest import TINY_SET, run_cli


@pytest.mark.slow
def test_a_demo_run_says_each_thing_once(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    workers = cpus_available() + 1
    done = run_cli("train", str(make_mmar()), "--set", *TINY_SET, "epochs=1", f"num_workers={workers}",
                   f"MMAR_CKPT_DIR={tmp_path / 'out'}", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "suggested max number of worker" not in done.stderr, "torch's per-DataLoader warning"
    assert done.stderr.count(f"warning: num_workers {workers} is more than the {cpus_available()} CPU(s)") == 1
    assert "Metrics --" not in done.stderr + done.stdout and "Key metric:" not in done.stderr + done.stdout
    assert "epoch 1/1  loss " in done.stderr, "the runner's own epoch line stays"
    assert done.stdout.startswith("final model:"), f"only the summary on stdout: {done.stdout[:500]}"


def test_a_hint_shared_by_many_warnings_is_shown_once_after_the_last() -> None:
    hint = "mmar migrate MMAR writes a copy of the MMAR with today's names"
    issues = [ConfigIssue("config/config_train.json", f"train.pre_transforms[{i}]", f"legacy name {i}", hint, "warning")
              for i in range(19)]
    issues.append(ConfigIssue("config/config_train.json", "seed", "no seed", "add a seed", "warning"))
    lines = render_warnings(issues)
    assert "\n".join(lines).count(hint) == 1
    assert lines[18].endswith(f"legacy name 18\n  hint: {hint}") and lines[0].endswith("legacy name 0")
    assert lines[19].endswith("no seed\n  hint: add a seed")
