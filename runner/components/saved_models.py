"""Networks from files: TorchScript models and training checkpoints, for validate, infer and export.

A checkpoint holds weights, not code, so the network is rebuilt from a definition first: the
class the MMAR's own config_train.json names, never one the ``train_conf`` a checkpoint carries names
(data never decides what is imported); that ``train_conf`` supplies plain argument values only. Checkpoints load with ``weights_only=True``. Every failure is bad input, reported at
the config path that named the file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.components.expressions import is_expression, is_lambda, is_reference
from runner.config.models import CheckpointModel, ComponentSpec, EvalConfig, TorchScriptModel
from runner.config.vars import as_literal
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
    """The network definition for a checkpoint, and where it came from (for messages).

    The class is always the MMAR's own (config_train.json): a checkpoint is data, and the
    ``train_conf`` it carries never decides what is imported or called. Its plain argument values
    (numbers, strings, lists of them: ``channels`` set with ``--set`` at training time) are what the
    weights were trained with, so they are used, as data, like ``--set`` values; arguments the MMAR
    writes as code or as nested components stay the MMAR's. When ``train_conf`` names another
    class, a warning says so and the MMAR's definition is built as it stands.
    """
    from runner.config.kinds import TRAIN
    from runner.config.load import load_config

    loaded = builder.loaded
    train = loaded if loaded.kind is TRAIN else load_config(
        loaded.mmar.root, None, loaded.mmar.environment_file, _override_words(loaded.overrides), kind=TRAIN)
    spec = train.model.train.model
    if spec is None:
        raise ComponentError(train.file, "train.model", "no model is declared; a checkpoint holds weights, not the network's code",
                             hint="declare the network in config_train.json's train.model")
    source = "train.model" if train.file == builder.file else f"{train.file}: train.model"
    trained = trained_model(checkpoint)
    if trained is None:
        return spec, source
    if (trained.get("name"), trained.get("path")) != (spec.name, spec.path):
        logger.warning("the checkpoint was trained with train.model %s; building %s's instead (a checkpoint never decides "
                       "what is imported)", json.dumps(trained, sort_keys=True, default=str), train.file)
        return spec, source
    stored_args = trained.get("args") if isinstance(trained.get("args"), dict) else {}
    taken = {key: as_literal(value) for key, value in stored_args.items()
             if _plain_data(value) and not _code_or_component(spec.args.get(key))}
    if not taken:
        return spec, source
    return spec.model_copy(update={"args": {**spec.args, **taken}}), f"{source} (arguments as the checkpoint was trained)"


def trained_model(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The train.model entry of the config a checkpoint was trained with (its ``train_conf``), or None."""
    stored = checkpoint.get("train_conf")
    train = stored.get("train") if isinstance(stored, dict) else None
    model = train.get("model") if isinstance(train, dict) else None
    return model if isinstance(model, dict) else None


def _plain_data(value: Any) -> bool:
    """Numbers, booleans, None, strings and lists of them: what a --set value can be, minus dicts."""
    if isinstance(value, list):
        return all(_plain_data(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _code_or_component(value: Any) -> bool:
    return isinstance(value, dict) or is_reference(value) or is_expression(value) or is_lambda(value)


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
