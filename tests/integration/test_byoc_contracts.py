"""BYOC contracts: ``path`` works for every kind of component, and broken custom code is bad input.

Bad input here means exit 2, one message naming the config path and the custom file and line,
no traceback, and nothing left in the output folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import invoke
from tests.conftest import TINY_SET
from tests.integration.test_bad_input import assert_bad_input

EVERY_KIND = '''
import os

import torch
from monai.data import CacheDataset, DataLoader
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import MeanDice
from monai.inferers import SimpleInferer, SlidingWindowInferer
from monai.losses import DiceLoss
from monai.networks.nets import UNet
from monai.transforms import LoadImaged

from runner.byoc import Iteration


def trace(obj, name=None):
    with open(os.environ["BYOC_TRACE"], "a") as out:
        out.write((name or type(obj).__name__) + "\\n")


class Model(UNet):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        trace(self)


class Loss(DiceLoss):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        trace(self)


class Optimizer(torch.optim.Adam):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        trace(self)


class Scheduler(torch.optim.lr_scheduler.StepLR):
    def __init__(self, optimizer, **kwargs):
        super().__init__(optimizer, **kwargs)
        trace(self)


class Loader(LoadImaged):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        trace(self)


class Dataset(CacheDataset):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        trace(self)


class Batches(DataLoader):
    def __init__(self, dataset, **kwargs):
        super().__init__(dataset, **kwargs)
        trace(self)


class TrainInferer(SimpleInferer):
    def __init__(self):
        super().__init__()
        trace(self)


class ValInferer(SlidingWindowInferer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        trace(self)


class DelegatingIteration(Iteration):
    """Runs the engine's own iteration, counting calls: proves iteration_update is in use."""

    def __init__(self):
        trace(self)
        self.calls = 0

    def __call__(self, engine, batchdata):
        self.calls += 1
        if self.calls == 1:
            trace(self, "IterationCalled")
        return engine._iteration(engine, batchdata)


class Handler:
    def __init__(self):
        trace(self)

    def attach(self, engine):
        pass


class Dice(MeanDice):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        trace(self)


class Trainer(SupervisedTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        trace(self)


class Evaluator(SupervisedEvaluator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        trace(self)
'''

KINDS = {
    ("train", "model"): "Model", ("train", "loss"): "Loss", ("train", "optimizer"): "Optimizer",
    ("train", "lr_scheduler"): "Scheduler", ("train", "dataset"): "Dataset", ("train", "dataloader"): "Batches",
    ("train", "inferer"): "TrainInferer", ("train", "trainer"): "Trainer",
    ("validate", "inferer"): "ValInferer", ("validate", "key_metric"): "Dice", ("validate", "evaluator"): "Evaluator",
}


def use_custom_everywhere(config: dict[str, Any]) -> None:
    for (section, slot), cls in KINDS.items():
        spec = config[section][slot]
        spec.pop("name", None)
        spec["path"] = f"everything.{cls}"
    config["train"]["pre_transforms"][0] = {"path": "everything.Loader", "args": {"keys": ["image", "label"]}}
    config["validate"]["pre_transforms"][0] = {"ref": "Loader"}  # a path component is referred to by its class name
    config["train"]["iteration"] = {"path": "everything.DelegatingIteration"}
    config["train"]["trainer"]["args"]["iteration_update"] = "@iteration"
    config["train"]["handlers"].append({"path": "everything.Handler"})


@pytest.mark.slow
def test_path_works_for_every_kind_of_component(make_mmar: Callable[..., Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("BYOC_TRACE", str(trace))
    root = make_mmar(edit=use_custom_everywhere, custom={"everything.py": EVERY_KIND})
    assert invoke("check", str(root)).exit_code == 0
    assert not trace.exists(), "mmar check must not construct anything"
    result = invoke("train", str(root), "--set", *TINY_SET, "epochs=1")
    assert result.exit_code == 0, result.stderr[-3000:]
    built = trace.read_text().split()
    expected = {*KINDS.values(), "Loader", "DelegatingIteration", "IterationCalled", "Handler"}
    assert set(built) == expected, set(built) ^ expected
    # The validate section refs the train Loader, so it is built twice, once per section.
    assert built.count("Loader") == 2


def test_handler_without_attach(make_mmar: Callable[..., Path]) -> None:
    source = "class Logger:\n    def __call__(self, engine):\n        pass\n"
    root = make_mmar(edit=lambda c: c["train"]["handlers"].append({"path": "loggers.Logger"}), custom={"loggers.py": source})
    for command in ("check", "train"):
        assert_bad_input(invoke(command, str(root), "--set", *TINY_SET), "train.handlers[6]: Logger (",
                         "custom/loggers.py, line 1) has no attach(engine) method", "hint: a handler registers itself")
    assert not (root / "models").exists()


NO_LOSS = '''from runner.byoc import Iteration


class Forgetful(Iteration):
    def __call__(self, engine, batchdata):
        image, label = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking)
        pred = engine.network(image)
        return {"image": image, "label": label, "pred": pred}
'''


def test_iteration_that_returns_no_loss(make_mmar: Callable[..., Path]) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["train"]["iteration"] = {"path": "forgetful.Forgetful"}

    root = make_mmar(edit=edit, custom={"forgetful.py": NO_LOSS})
    result = invoke("train", str(root), "--set", *TINY_SET)
    assert_bad_input(result, "config/config_train.json: train.iteration: Forgetful (", "custom/forgetful.py, line 5) returned a dict",
                     "['image', 'label', 'pred']", "a training iteration must return a dict with the loss under 'loss'")
    assert result.stderr.count("returned a dict") == 1, "reported once, not echoed by the engine's own logging"
    assert not (root / "models").exists(), "bad input must leave nothing behind"


def test_function_iteration_is_used_as_is_and_takes_no_args(make_mmar: Callable[..., Path]) -> None:
    source = "def step(engine, batchdata):\n    return None\n"

    def edit(config: dict[str, Any]) -> None:
        config["train"]["iteration"] = {"path": "steps.step"}

    root = make_mmar(edit=edit, custom={"steps.py": source})
    assert_bad_input(invoke("train", str(root), "--set", *TINY_SET), "train.iteration: step (", "custom/steps.py, line 1) returned None")
    root = make_mmar(edit=lambda c: c["train"].update(iteration={"path": "steps.step", "args": {"n": 1}}),
                     custom={"steps.py": source}, name="with-args")
    assert_bad_input(invoke("check", str(root)), "train.iteration.args: a function used as the iteration is called as f(engine, batchdata)")


def test_error_inside_a_custom_handler_names_its_line(make_mmar: Callable[..., Path]) -> None:
    source = ("from ignite.engine import Events\n\n\nclass Faulty:\n    def attach(self, engine):\n"
              "        engine.add_event_handler(Events.ITERATION_COMPLETED, self)\n\n"
              "    def __call__(self, engine):\n        return engine.state.output['loss'] / 0\n")
    root = make_mmar(edit=lambda c: c["train"]["handlers"].append({"path": "faulty.Faulty"}), custom={"faulty.py": source})
    result = invoke("train", str(root), "--set", *TINY_SET)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "training failed (" in result.stderr and "custom/faulty.py, line 9): ZeroDivisionError" in result.stderr


BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def seed_custom() -> dict[str, str]:
    """The custom code of the BYOC bundles that hold the seed page's examples verbatim."""
    return {path.name: path.read_text() for name in ("byoc_custom_events", "byoc_accumulate", "byoc_shutdown")
            for path in (BUNDLES / name / "custom").glob("*.py")}


@pytest.mark.slow
def test_seed_trainer_iteration_and_shutdown_run_together_unedited(make_mmar: Callable[..., Path]) -> None:
    """The seed's CustomTrainer, AccumulateIteration and ShutDownHandler in one run: a custom iteration's
    output stays one dict (MONAI decollates only its own iteration's output), and the handler reads it."""
    def edit(config: dict[str, Any]) -> None:
        train = config["train"]
        train["trainer"] = {"path": "custom_trainer.CustomTrainer", "args": train["trainer"]["args"]}
        train["iteration"] = {"path": "accumulate.AccumulateIteration"}
        train["trainer"]["args"]["iteration_update"] = "@iteration"
        train["handlers"] += [{"path": "custom_trainer.FireAccumulateCompleted"}, {"path": "custom_trainer.AccumulationLogger"},
                              {"path": "shutdown.ShutDownHandler"}]

    root = make_mmar(edit=edit, custom=seed_custom())
    result = invoke("train", str(root), "--set", *TINY_SET)
    assert result.exit_code == 0, result.stderr[-3000:]
    assert '"class": "custom_trainer.CustomTrainer"' in (root / "models" / "run_manifest.json").read_text()
    assert "accumulate_completed: optimizer step 1" in result.stderr
