"""Networks from files: TorchScript models and training checkpoints, for validate, infer and export.

A checkpoint holds weights, not code, so the network is rebuilt from a definition first. The
definition comes from the checkpoint's own ``train_conf`` (what the run that wrote it trained),
else from the MMAR's config_train.json. Every failure is bad input, reported at the config
path that named the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.config.models import CheckpointModel, ComponentSpec, EvalConfig, TorchScriptModel
from runner.errors import ComponentError, first_line
from runner.mmar import resolve_in_mmar

if TYPE_CHECKING:
    from runner.components.build import Builder

logger = logging.getLogger(__name__)

EXPORT_HINT = "make one from a checkpoint with: mmar export MMAR"
CHECKPOINT_HINT = "train first (mmar train), or point MMAR_CKPT at a checkpoint"


def model_entry_path(config: EvalConfig) -> str:
    """``model`` or ``model[1]``: where the enabled entry sits, for messages."""
    if not isinstance(config.model, list):
        return "model"
    return f"model[{config.models.index(config.enabled_model)}]"


def load_eval_model(builder: Builder, config: EvalConfig) -> Any:
    """The network an evaluation config's one enabled ``model`` entry describes, in eval mode."""
    entry = config.enabled_model
    where = model_entry_path(config)
    root = builder.loaded.mmar.root
    if isinstance(entry, TorchScriptModel):
        network = load_torchscript(resolve_in_mmar(root, entry.ts_path), builder.file, f"{where}.ts_path", builder.device)
    elif isinstance(entry, CheckpointModel):
        checkpoint = load_checkpoint(resolve_in_mmar(root, entry.ckpt_path), builder.file, f"{where}.ckpt_path")
        network = network_from_checkpoint(builder, checkpoint, f"{where}.ckpt_path")
    else:
        network = builder.build_component(entry, "validate", "model", where)
    return network.eval()


def load_torchscript(path: Path, file: str, config_path: str, device: Any) -> Any:
    import torch

    if not path.is_file():
        raise ComponentError(file, config_path, f"{path} not found", EXPORT_HINT)
    try:
        return torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ComponentError(file, config_path, f"{path} is not a TorchScript model ({first_line(exc)})", EXPORT_HINT) from None


def load_checkpoint(path: Path, file: str, config_path: str) -> dict[str, Any]:
    """A checkpoint dict with the network's weights under ``model`` (loaded tensors-and-plain-data only)."""
    import pickle

    import torch

    if not path.is_file():
        raise ComponentError(file, config_path, f"{path} not found", CHECKPOINT_HINT)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise ComponentError(file, config_path, f"{path} is not a readable checkpoint ({first_line(exc)})") from None
    if isinstance(checkpoint, dict) and "model" not in checkpoint and all(hasattr(v, "shape") for v in checkpoint.values()):
        checkpoint = {"model": checkpoint}  # a bare state_dict
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise ComponentError(file, config_path, f"{path} has no 'model' weights",
                             "checkpoints from mmar train and MONAI's CheckpointSaver keep them under 'model'")
    return checkpoint


def network_spec(builder: Builder, checkpoint: dict[str, Any]) -> tuple[ComponentSpec, str]:
    """The network definition for a checkpoint, and where it came from (for messages)."""
    stored = checkpoint.get("train_conf")
    if isinstance(stored, dict) and isinstance(stored.get("train"), dict) and isinstance(stored["train"].get("model"), dict):
        return ComponentSpec.model_validate(stored["train"]["model"]), "the checkpoint's train_conf.train.model"
    from runner.config.kinds import TRAIN
    from runner.config.load import load_config

    loaded = builder.loaded
    train = loaded if loaded.kind is TRAIN else load_config(
        loaded.mmar.root, None, loaded.mmar.environment_file, _override_words(loaded.overrides), kind=TRAIN)
    spec = train.model.train.model
    if spec is None:
        raise ComponentError(train.file, "train.model", "no model is declared, and the checkpoint carries no train_conf")
    return spec, f"{train.file}: train.model"


def network_from_checkpoint(builder: Builder, checkpoint: dict[str, Any], config_path: str) -> Any:
    spec, source = network_spec(builder, checkpoint)
    network = builder.build_component(spec, "train", "model", source)
    try:
        network.load_state_dict(checkpoint["model"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ComponentError(builder.file, config_path,
                             f"the checkpoint's weights do not fit the network of {source}: {first_line(exc)}") from None
    logger.info("network %s from %s, weights from the checkpoint", spec.label, source)
    return network


def _override_words(overrides: dict[str, Any]) -> list[str]:
    from runner.jsonio import canonical_json

    return [f"{k}={canonical_json(v) if isinstance(v, (list, dict)) else v}" for k, v in overrides.items()]
