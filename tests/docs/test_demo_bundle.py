"""The demo bundle's two environments, as its Readme describes them: the demo sizes, and the full recipe.

``config/environment.json`` (read by default) sizes the demo for the synthetic data; the full-scale
recipe is ``config_train.json``'s own values, which ``config/environment_decathlon.json`` must leave
alone. The doc tests run both (the Readme trains the full recipe one iteration); these are the
seconds-long guards of what the Readme says about the files.
"""

from __future__ import annotations

import json
from pathlib import Path

from runner.config.load import load_config
from tests.conftest import DEMO_BUNDLE

FULL_SCALE_ENV = "config/environment_decathlon.json"
# The variables that size a run (the Readme's list); the demo's environment.json sets some of them.
SIZING = ("epochs", "num_interval_per_valid", "learning_rate", "patch_size", "num_samples", "batch_size", "val_roi_size",
          "channels", "strides", "pixdim", "cache_rate", "num_workers", "amp")


def _read(name: str) -> dict[str, object]:
    return json.loads((DEMO_BUNDLE / name).read_text(encoding="utf-8"))


def test_the_full_scale_environment_runs_the_configs_own_recipe() -> None:
    recipe = _read("config/config_train.json")
    full = load_config(DEMO_BUNDLE, environment=FULL_SCALE_ENV)
    assert {k: full.variables[k] for k in SIZING} == {k: recipe[k] for k in SIZING}
    assert full.variables["patch_size"] == [96, 96, 96] and full.variables["epochs"] == 1260  # as the Readme says
    assert Path(str(full.variables["DATASET_JSON"])) == Path("/data/Task09_Spleen/datalist.json")


def test_the_default_environment_is_the_demo_and_sizes_only_what_the_readme_names() -> None:
    demo_env = _read("config/environment.json")
    sized = {k for k in demo_env if k in SIZING}
    assert sized, "environment.json holds the demo sizes"
    assert set(demo_env) - sized <= {"DATA_ROOT", "DATASET_JSON", "PROCESSING_TASK", "MMAR_EVAL_OUTPUT_PATH", "MMAR_CKPT_DIR",
                                     "MMAR_CKPT", "MMAR_TORCHSCRIPT"}
    demo = load_config(DEMO_BUNDLE)
    assert {k: demo.variables[k] for k in sized} == {k: demo_env[k] for k in sized}
    assert demo.variables["patch_size"] == [48, 48, 48] and demo.variables["epochs"] == 30  # as the Readme says
