"""The kinds of config file an MMAR holds, and what differs between them when loading.

config_train.json nests its components in ``train`` and ``validate`` sections; the validation
and inference configs are flat, with the evaluator's components at the top level. Everything
else (variables, substitution, ``--set``, error reporting) is shared, so the loader takes a kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from runner.config.models import EvalConfig, TrainConfig

TRAIN_SECTIONS = frozenset({"train", "validate"})
FLAT_SECTIONS = frozenset({
    "model", "pre_transforms", "dataset", "dataloader", "inferer", "iteration", "handlers", "post_transforms",
    "key_metric", "additional_metrics", "metrics", "evaluator",
})


@dataclass(frozen=True)
class ConfigKind:
    """One kind of config file: its default place, its schema, and which top-level keys are structure."""

    name: str
    default_file: str
    schema: type[BaseModel]
    sections: frozenset[str]

    @property
    def flat(self) -> bool:
        return self.sections is FLAT_SECTIONS


TRAIN = ConfigKind("train", "config/config_train.json", TrainConfig, TRAIN_SECTIONS)
VALIDATION = ConfigKind("validation", "config/config_validation.json", EvalConfig, FLAT_SECTIONS)
INFERENCE = ConfigKind("inference", "config/config_inference.json", EvalConfig, FLAT_SECTIONS)


def kind_of(config: dict) -> ConfigKind:
    """A config's kind from its shape: sections make a training config, a top-level evaluator a flat one."""
    if "train" not in config and "evaluator" in config:
        return VALIDATION if any(k in config for k in ("key_metric", "metrics")) else INFERENCE
    return TRAIN


@dataclass(frozen=True)
class Foreign:
    """Why a Clara config file is not one mmar runs, and what to run instead."""

    message: str
    hint: str


def foreign_config(config: dict) -> Foreign | None:
    """Clara config families that are not training/evaluation configs (AutoML, FL, AIAA, bring-your-own-trainer)."""
    if "controller" in config and "executor" in config:
        return Foreign("an AutoML controller config (Clara's medl.apps.automl ran the search); mmar runs no search",
                       "mmar trains the search space's first point from the training config it names: mmar train MMAR -c config/<trainconf>")
    if "servers" in config and ("aggregator" in config or "model_persistor" in config):
        return Foreign("a federated-learning server config (NVIDIA FLARE runs the server); mmar does not",
                       "a client's training runs with mmar train on the client MMAR's config_train.json")
    if "client_trainer" in config or ("servers" in config and "client" in config):
        return Foreign("a federated-learning client config (NVIDIA FLARE runs the client and calls its trainer); mmar does not",
                       "mmar train MMAR trains the client's config_train.json itself")
    if "inference" in config and "evaluator" not in config and "train" not in config:
        return Foreign("an AI-Assisted Annotation (AIAA) server config; mmar does not serve models",
                       "mmar infer MMAR runs the MMAR's config_inference.json")
    if "train" not in config and "evaluator" not in config:
        return Foreign("no \"train\" section and no \"evaluator\": nothing here to build (plain variables are read by a "
                       "bring-your-own trainer, which a training config names)",
                       'a training config has "train": {"trainer": {"path": "my_trainer.Trainer", "args": {...}}}')
    return None
