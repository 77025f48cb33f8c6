"""configs/evaluate.json and configs/inference.json from an MMAR's config_validation.json / config_inference.json.

As the model zoo lays them out: evaluate.json is merged over train.json (MONAI's
``--config_file "['configs/train.json','configs/evaluate.json']"``), so it gives a whole
``validate`` section and reuses train.json's ``network_def``, ``device`` and ``seed``;
inference.json stands alone (``evaluator`` at the top level, ``network_def`` copied from the
training config). The flat config's enabled ``model`` entry becomes:

* ``{"ckpt_path": ...}``: the train network, weights loaded by a ``CheckpointLoader`` placed first
  among the handlers (``load_path`` the bundle's ``ckpt_dir/model.pt`` when the MMAR read its
  own ``MMAR_CKPT`` there);
* ``{"ts_path": ...}``: ``torch.jit.load`` of the TorchScript file (``ckpt_dir/model.ts``, the
  file ``mmar export`` writes);
* a network component: that component, weights from the config's own CheckpointLoader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.config.load import LoadedConfig
from runner.config.models import CheckpointModel, EvalConfig, TorchScriptModel
from runner.convert.components import Translator
from runner.convert.refs import PINS_MODULE, Ref
from runner.convert.train_config import SECTION_ORDER, environment_ids, initialize
from runner.mmar import resolve_in_mmar


class EvalTranslator(Translator):
    """The flat config is one section, ``validate``; its model is the bundle's ``network``."""

    def __init__(self, loaded: LoadedConfig, train_ckpt_dir: Path, prefix: str) -> None:
        super().__init__(loaded)
        self.train_ckpt_dir = train_ckpt_dir
        self.prefix = prefix  # "validate#" (evaluate.json) or "" (inference.json)

    def get(self, section: str, slot: str) -> Any:
        self.referenced.add((section, slot))
        if slot == "model":
            return Ref("network")
        if slot == "evaluator":
            return Ref(f"{self.prefix}evaluator")
        names = {"pre_transforms": "preprocessing", "post_transforms": "postprocessing"}
        return Ref(f"{self.prefix}{names.get(slot, slot)}")

    def model_file(self, value: str) -> str:
        """A model file of the MMAR's outputs as a path under the bundle's ckpt_dir, when it is one."""
        path = resolve_in_mmar(self.loaded.mmar.root, value)
        if path.is_relative_to(self.train_ckpt_dir):
            return f"$@ckpt_dir + '/{path.relative_to(self.train_ckpt_dir).as_posix()}'"
        return str(path)


def eval_config(loaded: LoadedConfig, train_loaded: LoadedConfig, train: dict[str, Any], inference: bool) -> dict[str, Any]:
    """evaluate.json (``inference=False``) or inference.json as a dict."""
    model = loaded.model
    assert isinstance(model, EvalConfig)
    t = EvalTranslator(loaded, train_loaded.ckpt_dir.resolve(), "" if inference else "validate#")
    part: dict[str, Any] = {}
    for slot in SECTION_ORDER:
        if t.declared("validate", slot):
            key = {"pre_transforms": "preprocessing", "post_transforms": "postprocessing"}.get(slot, slot)
            part[key] = t.node("validate", slot)
    part["evaluator"] = t.node("validate", "evaluator")
    entry = model.enabled_model
    loader = None
    top: dict[str, Any] = {}
    if isinstance(entry, TorchScriptModel):
        top["network"] = f"$torch.jit.load({_quoted(t.model_file(entry.ts_path))}, map_location=@device)"
    else:
        if isinstance(entry, CheckpointModel):
            top["network_def"] = train["network_def"]
            loader = {"_target_": "CheckpointLoader", "load_path": t.model_file(entry.ckpt_path),
                      "load_dict": {"model": "@network"}, "map_location": "@device"}
        else:
            top["network_def"] = t.build_component(entry, "validate", "model", "model")
        top["network"] = "$@network_def.to(@device)"
    if loader is not None:
        part["handlers"] = [loader, *part.get("handlers", [])]
    evaluator_id = "evaluator" if inference else "validate#evaluator"
    run = [f"${PINS_MODULE}.prepare(@{evaluator_id}, @seed, {{'validate': @{t.prefix}dataset}})",
           f"$@{evaluator_id}.run()"]
    config: dict[str, Any] = {}
    if inference:
        config["imports"] = train["imports"]
        config.update(environment_ids(loaded, t))
        config.update({k: train[k] for k in ("seed", "device") if k in train})
        config["amp"] = train.get("amp", False)
    config["output_dir"] = _output_dir(loaded)
    config.update(top)
    if inference:
        config.update(part)
    else:
        config["validate"] = part
    config["initialize"] = initialize(train_loaded)
    config["run"] = run
    return config


def _quoted(value: str) -> str:
    return value[1:] if value.startswith("$") else repr(value)


def _output_dir(loaded: LoadedConfig) -> str:
    value = loaded.variables.get("MMAR_EVAL_OUTPUT_PATH")
    path = resolve_in_mmar(loaded.mmar.root, str(value)) if isinstance(value, str) and value else None
    if path is None or path.is_relative_to(loaded.mmar.root):
        relative = path.relative_to(loaded.mmar.root).as_posix() if path is not None else "eval"
        return f"$@bundle_root + '/{relative}'"
    return str(path)
