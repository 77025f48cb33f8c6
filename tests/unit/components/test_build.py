"""Building from specs: references, expressions, wiring, disabled/rank, ref reuse, cycles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from runner.components.build import Builder, ConfigState
from runner.config.load import load_train_config
from runner.errors import ComponentError
from runner.mmar import custom_code_on_path

PROBE = '''
class Recorder:
    """Keeps whatever it was given, so tests can look at the wiring."""
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def attach(self, engine):
        pass

class Boom:
    def __init__(self, **kwargs):
        raise RuntimeError("must not be built")
'''


def base_config(**train: Any) -> dict[str, Any]:
    return {
        "determinism": {"random_seed": 0},
        "epochs": 1,
        "width": 3,
        "train": {
            "model": {"name": "Linear", "args": {"in_features": "{width}", "out_features": 1}},
            "loss": {"name": "MSELoss"},
            "optimizer": {"name": "SGD", "args": {"lr": 0.1}},
            "lr_scheduler": {"name": "StepLR", "args": {"step_size": 1}},
            "inferer": {"name": "SimpleInferer"},
            "trainer": {"path": "probe.Recorder", "args": {"inferer": "@inferer", "net": "@model"}},
            **train,
        },
        "validate": {
            "inferer": {"name": "SlidingWindowInferer", "args": {"roi_size": [8, 8]}},
            "evaluator": {"path": "probe.Recorder", "args": {"inferer": "@inferer", "net": "@model", "conf": "@conf"}},
        },
    }


@pytest.fixture
def builder(make_mmar: Callable[..., Path]) -> Callable[..., Builder]:
    opened = []

    def make(config: dict[str, Any], rank: int = 0, sets: tuple[str, ...] = ()) -> Builder:
        root = make_mmar(config=config, custom={"probe.py": PROBE})
        context = custom_code_on_path(root)
        context.__enter__()
        opened.append(context)
        return Builder(load_train_config(root, overrides=sets), device=torch.device("cpu"), amp=False, rank=rank)

    yield make
    for context in opened:
        context.__exit__(None, None, None)


def test_implicit_wiring_fills_what_4_0_configs_leave_out(builder: Callable[..., Builder]) -> None:
    b = builder(base_config())
    model, optimizer, scheduler = b.get("train", "model"), b.get("train", "optimizer"), b.get("train", "lr_scheduler")
    assert [id(p) for p in optimizer.param_groups[0]["params"]] == [id(p) for p in model.parameters()]
    assert scheduler.optimizer is optimizer


def test_typed_substitution_reaches_constructor(builder: Callable[..., Builder]) -> None:
    b = builder(base_config(), sets=("width=5",))
    assert b.get("train", "model").in_features == 5


def test_reference_prefers_current_section_then_the_other(builder: Callable[..., Builder]) -> None:
    b = builder(base_config())
    trainer, evaluator = b.get("train", "trainer"), b.get("validate", "evaluator")
    assert type(trainer.kwargs["inferer"]).__name__ == "SimpleInferer"
    assert type(evaluator.kwargs["inferer"]).__name__ == "SlidingWindowInferer"
    assert evaluator.kwargs["net"] is trainer.kwargs["net"] is b.get("train", "model")


def test_conf_reference_is_the_substituted_config(builder: Callable[..., Builder]) -> None:
    b = builder(base_config())
    conf = b.get("validate", "evaluator").kwargs["conf"]
    assert conf["train"]["model"]["args"]["in_features"] == 3
    assert conf["epochs"] == 1


def test_expression_with_reference_and_lambda(builder: Callable[..., Builder]) -> None:
    config = base_config(optimizer={"name": "SGD", "args": {"params": "#list(@model.parameters())[:1]", "lr": 0.5}})
    config["train"]["trainer"]["args"]["fn"] = "lambda x: np.sum(x) + torch.tensor(1).item()"
    config["train"]["trainer"]["args"]["mod"] = "#monai.__name__"
    b = builder(config)
    optimizer = b.get("train", "optimizer")
    assert len(optimizer.param_groups[0]["params"]) == 1
    assert optimizer.param_groups[0]["params"][0] is b.get("train", "model").weight
    trainer = b.get("train", "trainer")
    assert trainer.kwargs["fn"]([1, 2]) == 4
    assert trainer.kwargs["mod"] == "monai"


def test_disabled_components_are_not_built(builder: Callable[..., Builder]) -> None:
    config = base_config(handlers=[{"path": "probe.Boom", "disabled": True}, {"path": "probe.Recorder", "args": {"k": 1}}])
    handlers = builder(config).get("train", "handlers")
    assert [h.kwargs for h in handlers] == [{"k": 1}]


def test_disabled_flag_from_variable(builder: Callable[..., Builder]) -> None:
    config = base_config(handlers=[{"path": "probe.Boom", "disabled": "{skip}"}])
    config["skip"] = True
    assert builder(config).get("train", "handlers") == []
    config["skip"] = False
    with pytest.raises(ComponentError, match="must not be built"):
        builder(config).get("train", "handlers")


def test_rank_entries_only_on_that_rank(builder: Callable[..., Builder]) -> None:
    config = base_config(handlers=[{"path": "probe.Recorder", "rank": 0, "args": {"who": "zero"}},
                                   {"path": "probe.Recorder", "args": {"who": "all"}}])
    assert [h.kwargs["who"] for h in builder(config, rank=0).get("train", "handlers")] == ["zero", "all"]
    assert [h.kwargs["who"] for h in builder(config, rank=1).get("train", "handlers")] == ["all"]


def test_ref_builds_a_fresh_copy_of_the_train_entry(builder: Callable[..., Builder]) -> None:
    config = base_config(pre_transforms=[{"name": "ScaleIntensityd", "args": {"keys": "image", "minv": 0.0, "maxv": 2.0}},
                                         {"name": "RandFlipd", "args": {"keys": "image", "prob": 0.5}}])
    config["validate"]["pre_transforms"] = [{"ref": "ScaleIntensityd"}]
    b = builder(config)
    train_t = b.get("train", "pre_transforms").transforms
    val_t = b.get("validate", "pre_transforms").transforms
    assert len(val_t) == 1 and type(val_t[0]) is type(train_t[0])
    assert val_t[0] is not train_t[0]
    assert val_t[0].scaler.maxv == 2.0


def test_ref_to_nothing_and_ambiguous_ref(builder: Callable[..., Builder]) -> None:
    config = base_config(pre_transforms=[{"name": "RandFlipd", "args": {"keys": "image"}},
                                         {"name": "RandFlipd", "args": {"keys": "label"}}])
    config["validate"]["pre_transforms"] = [{"ref": "RandFlipd"}]
    with pytest.raises(ComponentError, match="ambiguous") as info:
        builder(config).get("validate", "pre_transforms")
    assert info.value.config_path == "validate.pre_transforms[0].ref"
    config["validate"]["pre_transforms"] = [{"ref": "LoadImaged"}]
    with pytest.raises(ComponentError, match="matches no entry"):
        builder(config).get("validate", "pre_transforms")


def test_reference_to_nothing_names_the_path(builder: Callable[..., Builder]) -> None:
    config = base_config()
    config["train"]["trainer"]["args"]["x"] = "@nothing"
    with pytest.raises(ComponentError) as info:
        builder(config).get("train", "trainer")
    assert info.value.config_path == "train.trainer.args.x"
    assert "@nothing refers to nothing" in str(info.value)


def test_cycles_are_reported_with_their_chain(builder: Callable[..., Builder]) -> None:
    config = base_config(loss={"path": "probe.Recorder", "args": {"m": "@optimizer"}})
    config["train"]["optimizer"] = {"path": "probe.Recorder", "args": {"l": "@loss"}}
    with pytest.raises(ComponentError, match="circular reference: train.loss -> train.optimizer -> train.loss"):
        builder(config).get("train", "loss")


def test_checkpoint_name_lists_become_objects(builder: Callable[..., Builder], tmp_path: Path) -> None:
    config = base_config(handlers=[{"name": "CheckpointSaver", "args": {
        "save_dir": str(tmp_path / "ck"), "save_dict": ["model", "optimizer", "train_conf"], "save_final": True}}])
    b = builder(config)
    saver = b.get("train", "handlers")[0]
    saved = saver._final_checkpoint.to_save
    assert saved["model"] is b.get("train", "model")
    assert saved["optimizer"] is b.get("train", "optimizer")
    assert isinstance(saved["train_conf"], ConfigState) and saved["train_conf"].state_dict()["epochs"] == 1
    assert saver._final_filename == "final_model.pt"
