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
