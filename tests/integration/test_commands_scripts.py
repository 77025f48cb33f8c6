"""The demo bundle's commands/*.sh, run the way Clara users run them, in order, in real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_BUNDLE, TINY_SET

pytestmark = pytest.mark.slow

EVAL_WORDS = ["val_roi_size=[48,48,48]", "num_workers=0", "print_conf=False"]


def script(root: Path, name: str, *words: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(root / "commands" / name), *words], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    assert "warning: --set" not in done.stderr, f"{name} passes a word nothing uses: {done.stderr}"
    return done


def test_every_clara_command_script_runs(tmp_path: Path, synthetic_data: Path) -> None:
    root = tmp_path / "spleen"
    shutil.copytree(DEMO_BUNDLE, root, ignore=shutil.ignore_patterns("data", "models", "eval"))
    (root / "data").mkdir()
    (root / "data" / "synthetic").symlink_to(synthetic_data, target_is_directory=True)

    trained = script(root, "train.sh", *TINY_SET)
    assert trained.stdout.startswith("final model:"), "train.sh prints the run's summary, not the whole config first"
    script(root, "export.sh")
    assert (root / "models" / "model.ts").is_file()
    validated = script(root, "validate.sh", *EVAL_WORDS)
    by_checkpoint = script(root, "validate_ckpt.sh", *EVAL_WORDS)
    dice = [line for out in (validated.stdout, by_checkpoint.stdout) for line in out.splitlines() if line.startswith("val_mean_dice:")]
    assert len(dice) == 2 and dice[0] == dice[1]
    script(root, "infer.sh", *EVAL_WORDS)
    assert len(list((root / "eval").glob("*_seg.nii.gz"))) == 2
    script(root, "finetune.sh", *TINY_SET, "epochs=1", "print_conf=False")
    assert json.loads((root / "models" / "run_manifest.json").read_text())["command"] == "finetune"
