"""configs/train.json from an MMAR's loaded config_train.json.

Layout (MONAI's bundle ids, as the model zoo's train.json uses them)::

    imports, bundle_root, ckpt_dir, dataset_dir, data_list_file_path, seed, epochs, device, amp
    network_def, network, loss, optimizer, lr_scheduler
    train:    preprocessing, dataset, dataloader, inferer, postprocessing, key_metric,
              additional_metrics, iteration, handlers, trainer
    validate: the same, with evaluator
    initialize: set_determinism(seed=@seed), then scripts.mmar_pins.pin(...): the runner's pins
    run:      scripts.mmar_pins.prepare(@train#trainer, ...): the data RNGs seeded as the runner seeds them,
              then @train#trainer.run(), then the final weights saved to ckpt_dir/final_model.pt

The values are the MMAR's after ``{VAR}`` substitution with its environment.json and ``--set``:
the bundle trains what ``mmar train MMAR`` with the same options trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.config.load import LoadedConfig
from runner.convert.components import Translator
from runner.convert.refs import PINS_MODULE, slot_id

SECTION_ORDER = ("pre_transforms", "dataset", "dataloader", "inferer", "post_transforms", "key_metric", "additional_metrics",
                 "iteration", "handlers")
TOP_ORDER = ("model", "loss", "optimizer", "lr_scheduler")


def train_config(loaded: LoadedConfig, translator: Translator | None = None) -> dict[str, Any]:
    """The whole train.json as a dict (JSON-ready)."""
    t = translator or Translator(loaded)
    model = loaded.model
    config: dict[str, Any] = {"imports": ["$import scripts", f"$import {PINS_MODULE}"]}
    config.update(environment_ids(loaded, t))
    config["seed"] = loaded.seed
    if getattr(model, "epochs", None) is not None:
        config["epochs"] = model.epochs
    config["device"] = "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')" if model.use_gpu else "$torch.device('cpu')"
    config["amp"] = "$torch.cuda.is_available()" if model.amp and model.use_gpu else False
    for slot in TOP_ORDER:
        if t.declared("train", slot):
            node = t.node("train", slot)
            if slot == "model":
                config["network_def"] = node
                config["network"] = "$@network_def.to(@device)"
            else:
                config[slot] = node
    for section, engine in (("train", "trainer"), ("validate", "evaluator")):
        if model.section(section) is None:
            continue
        part: dict[str, Any] = {}
        for slot in SECTION_ORDER:
            if t.declared(section, slot):
                part[slot_id(section, slot).split("#", 1)[1]] = t.node(section, slot)
        part[engine] = t.node(section, engine)
        config[section] = part
    config["initialize"] = initialize(loaded)
    config["run"] = run_items(config)
    return config


def environment_ids(loaded: LoadedConfig, t: Translator) -> dict[str, Any]:
    """environment.json's folders as the bundle's own ids: outputs inside the bundle, data where it is."""
    ids: dict[str, Any] = {"bundle_root": ".", "ckpt_dir": "$@bundle_root + '/models'"}
    if t.data_root is not None:
        ids["dataset_dir"] = str(t.data_root)
    if t.dataset_json is not None:
        inside = t.data_root is not None and t.dataset_json.is_relative_to(t.data_root)
        ids["data_list_file_path"] = (f"$@dataset_dir + '/{t.dataset_json.relative_to(t.data_root).as_posix()}'"
                                      if inside else str(t.dataset_json))
    return ids


def initialize(loaded: LoadedConfig) -> list[str]:
    model = loaded.model
    return ["$monai.utils.set_determinism(seed=@seed)",
            f"${PINS_MODULE}.pin(@seed, cudnn_benchmark={model.cudnn_benchmark}, tf32={model.tf32}, "
            f"deterministic_algorithms={model.deterministic_algorithms})"]


def run_items(config: dict[str, Any]) -> list[str]:
    datasets = ", ".join(f"'{s}': @{s}#dataset" for s in ("train", "validate") if "dataset" in config.get(s, {}))
    evaluator = ", evaluator=@validate#evaluator" if "evaluator" in config.get("validate", {}) else ""
    return [f"${PINS_MODULE}.prepare(@train#trainer, @seed, {{{datasets}}}{evaluator})",
            "$@train#trainer.run()",
            f"${PINS_MODULE}.save_final(@network, @ckpt_dir)" if "network" in config else "$None"]


def relative_or_absolute(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
