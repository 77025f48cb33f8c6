"""``mmar train`` as a process: collection is on during the loop, and the GC tuning changes no result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.collector import ENV_SWITCH
from tests.conftest import TINY_SET, run_cli

pytestmark = pytest.mark.slow

PROBE = '''
import gc
import json
from ignite.engine import Events


class CollectorProbe:
    def __init__(self, out):
        self.out = out
        self.seen = []

    def attach(self, engine):
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def __call__(self, engine):
        self.seen.append({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()})

    def write(self, engine):
        with open(self.out, "w") as handle:
            json.dump(self.seen, handle)
'''


def train(make_mmar: Callable[..., Path], tmp_path: Path, name: str, env: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    seen_file = tmp_path / f"{name}.json"

    def edit(config: dict[str, Any]) -> None:
        config["train"]["handlers"].append({"path": "probe.CollectorProbe", "args": {"out": str(seen_file)}})

    root = make_mmar(edit=edit, custom={"probe.py": PROBE}, name=name)
    out = tmp_path / f"{name}-out"
    done = run_cli("train", str(root), "--set", *TINY_SET, "epochs=2", f"MMAR_CKPT_DIR={out}", env=env)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "run_manifest.json").read_text())
    return json.loads(seen_file.read_text()), manifest["weights_digest"]


def test_collection_is_on_in_the_loop_and_weights_do_not_change(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    tuned, tuned_digest = train(make_mmar, tmp_path, "tuned", {})
    plain, plain_digest = train(make_mmar, tmp_path, "plain", {ENV_SWITCH: "0"})
    assert tuned and all(s["enabled"] for s in tuned), "the collector must run during training"
    assert all(s["frozen"] > 100_000 for s in tuned), "the start-up's objects (torch, MONAI) should be frozen"
    assert plain and all(s["enabled"] and s["frozen"] == 0 for s in plain)
    assert tuned_digest == plain_digest
