"""Whether the checkpoint a fine-tuning run loads fits its network, said before the run starts.

MONAI's CheckpointLoader raises torch's ``load_state_dict`` error: every missing and unexpected key
and every shape, kilobytes of them. Here the same comparison is made up front and said in one
line: how many tensors differ (the first one with both shapes), and how the checkpoint's own
config (its ``train_conf``, as ``mmar export`` reads it) built the network where this run differs,
with the ``--set`` that fine-tunes it as it was trained.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.components.saved_models import trained_model
from runner.config.load import LoadedConfig
from runner.config.vars import value_at, variable_at
from runner.errors import ComponentError
from runner.manifest import model_state
from runner.mmar import resolve_in_mmar


@dataclass(frozen=True)
class Misfit:
    """How a checkpoint's weights differ from the network's: names with both shapes, and names only one side has."""

    shapes: list[tuple[str, list[int], list[int]]]  # (name, in the checkpoint, in the network)
    missing: list[str]  # the network has them, the checkpoint does not
    unexpected: list[str]  # the checkpoint has them, the network does not

    def __bool__(self) -> bool:
        return bool(self.shapes or self.missing or self.unexpected)

    def render(self) -> str:
        parts = []
        if self.shapes:
            name, stored, here = self.shapes[0]
            parts.append(f"{len(self.shapes)} tensor(s) differ in shape (first {name}: {stored} in the checkpoint, {here} here)")
        if self.missing:
            parts.append(f"{len(self.missing)} the network has are missing from it (first {self.missing[0]})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} it has are not in the network (first {self.unexpected[0]})")
        return ", ".join(parts)


def misfit(stored: Mapping[str, Any], network: Mapping[str, Any], strict: bool = True, strict_shape: bool = True) -> Misfit:
    """What ``load_state_dict`` would refuse, as CheckpointLoader's ``strict``/``strict_shape`` ask."""
    shapes = [(name, list(stored[name].shape), list(tensor.shape)) for name, tensor in network.items()
              if name in stored and hasattr(stored[name], "shape") and list(stored[name].shape) != list(tensor.shape)]
    missing = [name for name in network if name not in stored] if strict else []
    unexpected = [name for name in stored if name not in network] if strict else []
    return Misfit(shapes if strict_shape else [], missing, unexpected)


def require_fitting_checkpoint(loaded: LoadedConfig, network: Any) -> None:
    """Raise ComponentError (exit 2) when an enabled CheckpointLoader's checkpoint does not fit ``network``."""
    for index, handler in enumerate(loaded.model.train.handlers):
        if handler.label != "CheckpointLoader" or handler.disabled:
            continue
        key = _model_key(handler.args.get("load_dict"))
        load_path = handler.args.get("load_path")
        if key is None or not isinstance(load_path, str):
            continue
        checkpoint = _load(resolve_in_mmar(loaded.mmar.root, load_path))
        stored = checkpoint.get(key) if isinstance(checkpoint, dict) else None
        if not isinstance(stored, Mapping):
            continue  # another layout: CheckpointLoader says what it finds
        found = misfit(stored, model_state(network), handler.args.get("strict") is not False,
                       handler.args.get("strict_shape") is not False)
        if found:
            trained, hint = trained_differences(loaded, checkpoint)
            raise ComponentError(loaded.file, f"train.handlers[{index}].args.load_path",
                                 f"{load_path} does not fit the network of train.model: {found.render()}; {trained}", hint)


def trained_differences(loaded: LoadedConfig, checkpoint: Mapping[str, Any]) -> tuple[str, str]:
    """How the checkpoint's own config built train.model where this run differs, and the ``--set`` that matches it."""
    trained = trained_model(dict(checkpoint))
    if trained is None:
        return ("the checkpoint carries no config (train_conf) to tell how it was trained",
                "point MMAR_CKPT at a checkpoint of this network")
    found, current = value_at(loaded.resolved, "train.model")
    here = current if found and isinstance(current, dict) else {}
    if (trained.get("name"), trained.get("path")) != (here.get("name"), here.get("path")):
        label = trained.get("name") or trained.get("path")
        return f"the checkpoint was trained with train.model {label}", "point MMAR_CKPT at a checkpoint of this network"
    stored_args = trained.get("args") if isinstance(trained.get("args"), dict) else {}
    args = here.get("args") if isinstance(here.get("args"), dict) else {}
    differing = sorted(k for k in set(stored_args) | set(args) if stored_args.get(k) != args.get(k))
    if not differing:
        return "its config (train_conf) builds train.model as this run does", "point MMAR_CKPT at the checkpoint this config trained"
    shown = ", ".join(f"{k}={_json(stored_args.get(k))} (this run: {_json(args.get(k))})" for k in differing)
    sets = [f"{v}={_json(stored_args[k], compact=True)}" for k in differing
            if k in stored_args and (v := variable_at(loaded.mmar.config, f"train.model.args.{k}"))]
    hint = f"--set {' '.join(sets)} fine-tunes it as it was trained" if sets else \
        "change train.model.args to match, or point MMAR_CKPT at a checkpoint of this network"
    return f"the checkpoint was trained with {shown}", hint


def _model_key(load_dict: Any) -> str | None:
    """The checkpoint key CheckpointLoader loads into the model: ``{"model": "@model"}`` or Clara 4.0's ``["model"]``."""
    if isinstance(load_dict, dict):
        return next((k for k, v in load_dict.items() if v == "@model"), None)
    if isinstance(load_dict, list) and "model" in load_dict:
        return "model"
    return None


def _load(path: Any) -> Any:
    """The checkpoint as plain data (``weights_only``), or None when it cannot be read (CheckpointLoader says why)."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError):
        return None


def _json(value: Any, compact: bool = False) -> str:
    text = json.dumps(value, default=str)
    return text.replace(" ", "") if compact else text
