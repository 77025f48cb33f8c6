"""pydantic v2 models of config_train.json (both 4.0 and 4.1 dialects).

Models are the boundary types: they hold already-substituted JSON, do no I/O and import no torch.
A component is ``name`` or ``path`` (``path`` wins when both are given, MMAR_SPEC §2.4); unknown
keys inside sections and components are rejected as typos, while unknown *top-level* keys are user
variables, as in Clara. ``mmar schema`` prints :meth:`TrainConfig.model_json_schema`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    model_validator,
)

SEED_LIMIT = 2**32
LEGACY_CUSTOM_TRANSFORMS_DEFAULT = True
LEGACY_CUSTOM_TRANSFORMS_HELP = ("Transforms from custom/ that define __call__ get what MONAI 0.5-0.8 gave them (numpy arrays before "
                                 "ToTensord, torch tensors after, with <key>_meta_dict); false: today's MetaTensors.")


class ComponentSpec(BaseModel):
    """One buildable object: a class found by short ``name`` or dotted ``path``, plus ``args``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Short class name searched in MONAI, torch and ignite.")
    path: str | None = Field(None, description="Dotted import path; custom/ modules import top-level. Wins over name.")
    args: dict[str, Any] = Field(default_factory=dict, description="Constructor keyword arguments.")
    disabled: StrictBool = Field(False, description="Skip this component entirely (not built, not in its list).")
    rank: StrictInt | None = Field(None, description="Build only on this distributed rank (usually 0).")
    log_label: str | None = Field(None, description="Metric name seen by the engine, logs and checkpoints.")
    is_key_metric: StrictBool = Field(False, description="4.0 metrics list: the metric that selects the best model.")
    search: Any = Field(None, description="AutoML search space; ignored by the runner.")
    apply: Any = Field(None, description="AutoML apply map; ignored by the runner.")

    @model_validator(mode="after")
    def _name_or_path(self) -> ComponentSpec:
        if not self.name and not self.path:
            raise ValueError("a component needs 'name' or 'path'")
        return self

    @property
    def target(self) -> str:
        """What is imported: ``path`` when given, else ``name``."""
        return self.path or self.name or ""

    @property
    def label(self) -> str:
        """Short label for messages and ``ref`` lookup: the name, else the path's last part."""
        return self.name or self.target.rsplit(".", 1)[-1]


class DatasetSpec(ComponentSpec):
    """A dataset component with Clara's datalist keys beside ``name``/``args``."""

    data_list_file_path: str | None = Field(None, description="Decathlon-style datalist JSON ({DATASET_JSON}).")
    data_file_base_dir: str | None = Field(None, description="Base folder for relative datalist entries ({DATA_ROOT}).")
    data_list_key: str | None = Field(None, description="Datalist key: training, validation, test...")


class RefSpec(BaseModel):
    """A validate-section entry reusing the train-section entry of the same name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(description="Name of a component in the same list of the train section.")
    disabled: StrictBool = False


def _item_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "ref" if "ref" in value else "component"
    if isinstance(value, (RefSpec, ComponentSpec)):
        return "ref" if isinstance(value, RefSpec) else "component"
    return None


ListItem = Annotated[
    Annotated[ComponentSpec, Tag("component")] | Annotated[RefSpec, Tag("ref")],
    Discriminator(_item_kind, custom_error_type="invalid_component", custom_error_message="expected a component object"),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pre_transforms: list[ListItem] = Field(default_factory=list)
    dataset: DatasetSpec | None = None
    dataloader: ComponentSpec | None = None
    inferer: ComponentSpec | None = None
    iteration: ComponentSpec | None = Field(None, description="Custom (engine, batch) -> dict iteration.")
    handlers: list[ComponentSpec] = Field(default_factory=list)
    post_transforms: list[ListItem] = Field(default_factory=list)
    key_metric: ComponentSpec | None = Field(None, description="4.1: the metric that selects the best model.")
    additional_metrics: list[ComponentSpec] = Field(default_factory=list)
    metrics: list[ComponentSpec] = Field(default_factory=list, description="4.0: metrics, one is_key_metric.")

    @model_validator(mode="after")
    def _one_key_metric(self) -> _Section:
        if self.key_metric is not None and self.metrics:
            raise ValueError("use either 'metrics' (4.0) or 'key_metric'/'additional_metrics' (4.1), not both")
        keys = [m for m in self.metrics if m.is_key_metric and not m.disabled]
        if len(keys) > 1:
            raise ValueError("more than one metric has is_key_metric: true")
        return self


class TrainSection(_Section):
    """The ``train`` section: everything the trainer needs."""

    loss: ComponentSpec | None = None
    optimizer: ComponentSpec | None = None
    lr_scheduler: ComponentSpec | None = None
    model: ComponentSpec | None = None
    trainer: ComponentSpec = Field(description="SupervisedTrainer, a subclass, or a BYOW trainer via path.")


class ValidateSection(_Section):
    """The ``validate`` section: the evaluator, run by the train ValidationHandler; reuses train's model."""

    evaluator: ComponentSpec = Field(description="SupervisedEvaluator or a subclass.")


class Determinism(BaseModel):
    """Seeding; 3.x keys are accepted and ignored in favour of ``random_seed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    random_seed: Annotated[StrictInt, Field(ge=0, lt=SEED_LIMIT)] = Field(
        description="Global seed, an integer in [0, 2**32)."
    )
    python_seed: Any = None
    numpy_seed: Any = None
    tf_seed: Any = None


class TrainConfig(BaseModel):
    """config_train.json. Unknown top-level keys are user variables for ``{VAR}`` substitution."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, title="config_train.json")

    clara_train_version: str | None = Field(None, alias="CLARA_TRAIN_VERSION")
    epochs: Annotated[StrictInt, Field(ge=1)] | None = None
    learning_rate: StrictFloat | None = None
    amp: StrictBool = False
    multi_gpu: StrictBool = False
    use_gpu: StrictBool = True
    cudnn_benchmark: StrictBool = False
    tf32: StrictBool = Field(False, description="Allow TF32 matmuls/convolutions on Ampere+ (breaks bitwise equality with fp32).")
    deterministic_algorithms: StrictBool = Field(
        True, description="torch.use_deterministic_algorithms (strict). false trades bitwise reproducibility for speed."
    )
    determinism: Determinism | None = Field(None, description="Seeding; the seed defaults to 0 when absent.")
    legacy_custom_transforms: StrictBool = Field(LEGACY_CUSTOM_TRANSFORMS_DEFAULT, description=LEGACY_CUSTOM_TRANSFORMS_HELP)
    train: TrainSection
    validation: ValidateSection | None = Field(None, alias="validate")

    def section(self, name: str) -> TrainSection | ValidateSection | None:
        """``"train"`` or ``"validate"`` by their JSON names."""
        return self.train if name == "train" else self.validation


class EnvironmentConfig(BaseModel):
    """environment.json: a flat map of variables; the well-known keys are typed."""

    model_config = ConfigDict(extra="allow", frozen=True, title="environment.json")

    DATA_ROOT: str | None = None
    DATASET_JSON: str | None = None
    MMAR_CKPT_DIR: str | None = None
    MMAR_CKPT: str | None = None
    MMAR_TORCHSCRIPT: str | None = None
    MMAR_EVAL_OUTPUT_PATH: str | None = None
    PROCESSING_TASK: str | None = None


Dialect = Literal["4.0", "4.1"]


# ---- config_validation.json / config_inference.json: flat, no train/validate sections ------------
class TorchScriptModel(BaseModel):
    """``{"ts_path": "{MMAR_TORCHSCRIPT}"}``: a model saved with ``mmar export``, loaded with torch.jit.load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts_path: str = Field(description="TorchScript file, usually {MMAR_TORCHSCRIPT}.")
    disabled: StrictBool = False


class CheckpointModel(BaseModel):
    """``{"ckpt_path": "{MMAR_CKPT}"}``: a checkpoint; the network is rebuilt from its ``train_conf``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ckpt_path: str = Field(description="Checkpoint written by training, usually {MMAR_CKPT}.")
    disabled: StrictBool = False


def _model_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "ts" if "ts_path" in value else "ckpt" if "ckpt_path" in value else "component"
    if isinstance(value, TorchScriptModel):
        return "ts"
    if isinstance(value, CheckpointModel):
        return "ckpt"
    return "component" if isinstance(value, ComponentSpec) else None


ModelEntry = Annotated[
    Annotated[TorchScriptModel, Tag("ts")] | Annotated[CheckpointModel, Tag("ckpt")] | Annotated[ComponentSpec, Tag("component")],
    Discriminator(_model_kind, custom_error_type="invalid_model",
                  custom_error_message="expected {\"ts_path\": ...}, {\"ckpt_path\": ...} or a network component"),
]


class EvalConfig(_Section):
    """config_validation.json and config_inference.json: one evaluator section at the top level.

    ``model`` is one entry or a list of alternatives of which exactly one is enabled (Clara's
    ``dont_load_ts_model`` / ``dont_load_ckpt_model`` switch between them). Unknown top-level keys
    are user variables, as in config_train.json.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, title="config_validation.json / config_inference.json")

    clara_train_version: str | None = Field(None, alias="CLARA_TRAIN_VERSION")
    amp: StrictBool = False
    multi_gpu: StrictBool = False
    use_gpu: StrictBool = True
    cudnn_benchmark: StrictBool = False
    tf32: StrictBool = False
    deterministic_algorithms: StrictBool = True
    determinism: Determinism | None = None
    legacy_custom_transforms: StrictBool = Field(LEGACY_CUSTOM_TRANSFORMS_DEFAULT, description=LEGACY_CUSTOM_TRANSFORMS_HELP)
    model: ModelEntry | list[ModelEntry] = Field(description="TorchScript, checkpoint or network component; one enabled.")
    evaluator: ComponentSpec = Field(description="SupervisedEvaluator or a subclass.")

    @model_validator(mode="after")
    def _one_model(self) -> EvalConfig:
        enabled = [m for m in self.models if not m.disabled]
        if len(enabled) != 1:
            raise ValueError(f"exactly one model entry must be enabled, {len(enabled)} are"
                             " (set dont_load_ts_model / dont_load_ckpt_model, or \"disabled\": true on the others)")
        return self

    @property
    def models(self) -> list[TorchScriptModel | CheckpointModel | ComponentSpec]:
        return self.model if isinstance(self.model, list) else [self.model]

    @property
    def enabled_model(self) -> TorchScriptModel | CheckpointModel | ComponentSpec:
        return next(m for m in self.models if not m.disabled)

    def section(self, name: str) -> EvalConfig | None:
        """The flat config is its own (and only) ``validate`` section."""
        return self if name == "validate" else None
