"""Implicit wiring: arguments the runner supplies when the config does not (MMAR_SPEC §2.6).

Clara 4.0 configs name no objects; the framework joined them. 4.1 configs pass them with ``@``.
We support both with one rule: for each slot, a table says which *parameter names* the runner can
fill and from which slot; a parameter is filled only when the config does not set it and the
target's signature names it. So an explicit ``"network": "@model"`` always wins.

=================  ==========================================================================
slot / class       filled when absent
=================  ==========================================================================
optimizer          params = model.parameters()
lr_scheduler       optimizer
dataset            data = datalist(data_list_file_path, data_list_key, data_file_base_dir),
                   transform = Compose(pre_transforms); cache_dir = MMAR_CACHE_DIR/<section>
                   (and PersistentDataset's hash_transform); SmartCacheDataset's seed
dataloader         dataset; generator seeded from the run seed and MONAI's worker_init_fn
                   (torch DataLoader and subclasses)
LrScheduleHandler  lr_scheduler
ValidationHandler  validator = validate.evaluator
CheckpointSaver    save_dir = MMAR_CKPT_DIR; save_dict names -> objects;
                   key_metric_filename = model.pt; final_filename = final_model.pt
CheckpointLoader   load_dict names -> objects; map_location = the run's device
SmartCacheHandler  smartcacher = the section's dataset
MONAI 0.8 defaults see MONAI_08_DEFAULTS (LoadImaged image_only=False, ...)
once built         see BUILT_ADAPTERS: CheckpointSaver writes atomically; StatsHandler leaves the error
                   to the CLI; engines answer output["loss"]
TensorBoard*       log_dir = MMAR_CKPT_DIR; TensorBoardStatsHandler in train.handlers:
                   state_attributes = ["learning_rate"] (the learning rate per epoch)
trainer (engines)  device, max_epochs = epochs, train_data_loader, network, optimizer,
                   loss_function, inferer, postprocessing, key_train_metric,
                   additional_metrics, train_handlers, amp, iteration_update
evaluator          device, val_data_loader, network (train model; the flat config's own model),
                   inferer, postprocessing,
                   key_val_metric, additional_metrics, val_handlers, amp, iteration_update
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runner.workflow.handlers import LEARNING_RATE_ATTRIBUTE

if TYPE_CHECKING:
    from runner.components.build import Builder

Provider = Callable[[], Any]

KEY_METRIC_FILENAME = "model.pt"
FINAL_FILENAME = "final_model.pt"
# Offered only after a class check proved the target takes them, even through **kwargs
# (MONAI's DataLoader passes ``generator`` on to torch's).
CLASS_CHECKED = frozenset({"generator", "worker_init_fn"})
# Defaults MONAI changed since 0.8, which Clara 4.x configs were written against: where a config
# leaves the argument out, it gets the 0.8 value (LoadImaged then gives the <key>_meta_dict entries
# 4.x configs read; CropForeground never pads past the image; SaveImage resamples to the original space).
MONAI_08_DEFAULTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("monai.transforms.LoadImaged", {"image_only": False}),
    ("monai.transforms.CropForegroundd", {"allow_smaller": True}),
    ("monai.transforms.CropForeground", {"allow_smaller": True}),
    ("monai.transforms.SaveImaged", {"resample": True}),
    ("monai.transforms.SaveImage", {"resample": True}),
    ("monai.transforms.RandSpatialCropd", {"random_size": True}),
    ("monai.transforms.RandSpatialCrop", {"random_size": True}),
    ("monai.transforms.RandSpatialCropSamplesd", {"random_size": True}),
    ("monai.transforms.RandSpatialCropSamples", {"random_size": True}),
    ("monai.transforms.RandScaleCropd", {"random_size": True}),
    ("monai.transforms.RandScaleCrop", {"random_size": True}),
)
OBJECT_NAMES_TO_SLOTS = {"model": "model", "network": "model", "optimizer": "optimizer", "lr_scheduler": "lr_scheduler"}


def is_subclass(target: Any, dotted: str) -> bool:
    """Whether ``target`` is a class deriving from the class at ``dotted`` (imported on demand)."""
    module_name, _, attr = dotted.rpartition(".")
    import importlib

    base = getattr(importlib.import_module(module_name), attr)
    return isinstance(target, type) and issubclass(target, base)


def _transform_hashing(transforms: Any) -> bytes:
    """PersistentDataset's cache key part for the pipeline (MONAI's own JSON hashing of the transforms)."""
    from monai.data.utils import json_hashing

    return json_hashing(transforms)


def _derived_seed(builder: Builder, label: str) -> int:
    from runner.determinism import derive_seed

    return derive_seed(builder.loaded.seed, builder.rank_label(label))


def _monai_worker_init() -> Any:
    """MONAI's worker_init_fn: reseeds each worker's Randomizables from its torch worker seed."""
    from monai.data.utils import worker_init_fn

    return worker_init_fn


def implicit_providers(builder: Builder, section: str, slot: str, target: Any) -> dict[str, Provider]:
    """Parameter name -> provider, for every argument the runner can fill in this slot."""
    other = "validate" if section == "train" else "train"
    has = builder.declared
    get = builder.get
    found: dict[str, Provider] = {}

    def offer(name: str, provider: Provider, when: bool = True) -> None:
        if when:
            found[name] = provider

    for dotted, defaults in MONAI_08_DEFAULTS:
        if is_subclass(target, dotted):
            for name, value in defaults.items():
                offer(name, lambda value=value: value)
    if slot == "optimizer":
        offer("params", lambda: get("train", "model").parameters(), has("train", "model"))
    elif slot == "lr_scheduler":
        offer("optimizer", lambda: get("train", "optimizer"), has("train", "optimizer"))
    elif slot == "dataset":
        offer("data", lambda: builder.datalist(section), builder.spec(section, "dataset").data_list_file_path is not None)
        offer("transform", lambda: get(section, "pre_transforms"), has(section, "pre_transforms"))
        offer("cache_dir", lambda: builder.cache_dir(section))  # PersistentDataset & co.: Clara made one; we use the outputs
        if is_subclass(target, "monai.data.PersistentDataset"):
            offer("hash_transform", lambda: _transform_hashing)  # an edited pipeline never reuses a stale cache
        if is_subclass(target, "monai.data.SmartCacheDataset"):
            offer("seed", lambda: _derived_seed(builder, f"{section}.dataset.smartcache"))
    elif slot == "dataloader":
        offer("dataset", lambda: get(section, "dataset"), has(section, "dataset"))
        if is_subclass(target, "torch.utils.data.DataLoader"):
            offer("generator", lambda: builder.generator(f"{section}.dataloader"))
            offer("worker_init_fn", _monai_worker_init)
    elif slot in ("trainer", "evaluator") and is_subclass(target, "monai.engines.Workflow"):
        prefix = "train" if slot == "trainer" else "val"
        offer("device", lambda: builder.device)
        epochs = getattr(builder.loaded.model, "epochs", None)
        offer("max_epochs", lambda: epochs, epochs is not None)
        offer(f"{prefix}_data_loader", lambda: get(section, "dataloader"), has(section, "dataloader"))
        model_section = builder.section_declaring("model", section)
        offer("network", lambda: get(model_section, "model"), model_section is not None)
        offer("optimizer", lambda: get("train", "optimizer"), has("train", "optimizer"))
        offer("loss_function", lambda: get("train", "loss"), has("train", "loss"))
        offer("inferer", lambda: get(section, "inferer"), has(section, "inferer"))
        offer("postprocessing", lambda: get(section, "post_transforms"), has(section, "post_transforms"))
        offer(f"key_{prefix}_metric", lambda: get(section, "key_metric"), has(section, "key_metric"))
        offer("additional_metrics", lambda: get(section, "additional_metrics"), has(section, "additional_metrics"))
        offer(f"{prefix}_handlers", lambda: get(section, "handlers"), has(section, "handlers"))
        offer("amp", lambda: builder.amp)
        offer("iteration_update", lambda: get(section, "iteration"), has(section, "iteration"))
    elif slot == "handlers":
        if is_subclass(target, "monai.handlers.SmartCacheHandler"):
            offer("smartcacher", lambda: get(section, "dataset"), has(section, "dataset"))
        elif is_subclass(target, "monai.handlers.CheckpointLoader"):
            offer("map_location", lambda: builder.device)  # a checkpoint saved on a GPU loads on a CPU host
        elif is_subclass(target, "monai.handlers.LrScheduleHandler"):
            offer("lr_scheduler", lambda: get("train", "lr_scheduler"), has("train", "lr_scheduler"))
        elif is_subclass(target, "monai.handlers.ValidationHandler"):
            offer("validator", lambda: get(other if section == "train" else section, "evaluator"), has("validate", "evaluator"))
        elif is_subclass(target, "monai.handlers.CheckpointSaver"):
            offer("save_dir", lambda: str(builder.loaded.ckpt_dir))
        elif is_subclass(target, "monai.handlers.TensorBoardStatsHandler"):
            offer("log_dir", lambda: str(builder.loaded.ckpt_dir))
            # the trainer's state carries the epoch's learning rate (runner.workflow.handlers.RunRecord)
            offer("state_attributes", lambda: [LEARNING_RATE_ATTRIBUTE], section == "train")
    return found


def adapt_explicit(builder: Builder, section: str, slot: str, target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Rewrite explicit arguments whose 4.0 shape differs from what the class takes today.

    Also turns ``amp`` off for engines when the run is not on CUDA (autocast+GradScaler are
    CUDA-only here; the manifest records that amp was requested but not in force).
    """
    kwargs = _device_on_this_host(builder, kwargs)
    engine_slot = slot in ("trainer", "evaluator")
    if engine_slot and kwargs.get("amp") and not builder.amp and is_subclass(target, "monai.engines.Workflow"):
        return {**kwargs, "amp": False}
    if slot != "handlers":
        return kwargs
    if is_subclass(target, "monai.handlers.CheckpointSaver"):
        kwargs = dict(kwargs)
        if "save_dict" in kwargs:
            kwargs["save_dict"] = builder.objects_for_checkpoint(kwargs["save_dict"], section)
        if kwargs.get("save_key_metric") and not kwargs.get("key_metric_filename"):
            kwargs["key_metric_filename"] = KEY_METRIC_FILENAME
        if kwargs.get("save_final") and not kwargs.get("final_filename"):
            kwargs["final_filename"] = FINAL_FILENAME
    elif is_subclass(target, "monai.handlers.CheckpointLoader") and "load_dict" in kwargs:
        kwargs = dict(kwargs)
        kwargs["load_dict"] = builder.objects_for_checkpoint(kwargs["load_dict"], section)
    return kwargs


def _device_on_this_host(builder: Builder, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A literal ``"device": "cuda"`` (Clara 4.1's validation and inference configs) runs on the run's device
    when this host has no CUDA, as ``use_gpu`` would: the configs were written for Clara's GPU container."""
    device = kwargs.get("device")
    if isinstance(device, str) and device.startswith("cuda") and getattr(builder.device, "type", "cpu") != "cuda":
        return {**kwargs, "device": builder.device}
    return kwargs


def adapt_distributed(builder: Builder, section: str, slot: str, target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A shuffled or distributed DataLoader reads through a seeded DistributedSampler.

    Its order is a function of (seed, epoch) alone (MONAI's engines call ``set_epoch`` each
    epoch), not of a generator's history, so a run resumed at any epoch draws the same batches
    as the uninterrupted one; under torchrun each rank reads its own shard. ``shuffle`` moves
    into the sampler; training pads shards to equal length, evaluation sees every case once.
    """
    if slot != "dataloader" or not is_subclass(target, "torch.utils.data.DataLoader"):
        return kwargs
    if kwargs.get("sampler") is not None or "dataset" not in kwargs:
        return kwargs
    if builder.world_size <= 1 and not (section == "train" and kwargs.get("shuffle")):
        return kwargs
    from runner.determinism import derive_seed
    from runner.workflow.distributed import DistContext, distributed_sampler

    cases = len(kwargs["dataset"]) if hasattr(kwargs["dataset"], "__len__") else None
    if cases is not None and cases < builder.world_size:
        from runner.errors import ComponentError

        raise ComponentError(builder.file, f"{section}.dataset", f"{cases} case(s) for {builder.world_size} processes: each "
                             f"process {'trains' if section == 'train' else 'validates'} its own share, so each needs a case",
                             hint=f"give the {section} datalist at least {builder.world_size} cases, or run fewer processes (--nproc)")
    kwargs = dict(kwargs)
    shuffle = bool(kwargs.pop("shuffle", False))
    context = DistContext(builder.rank, builder.rank, builder.world_size)
    kwargs["sampler"] = distributed_sampler(kwargs["dataset"], context, shuffle and section == "train",
                                            derive_seed(builder.loaded.seed, f"{section}.sampler"))
    return kwargs


def _atomic_checkpoint_saver(saver: Any) -> Any:
    from runner.components.atomic_checkpoints import atomic_checkpoint_saver

    return atomic_checkpoint_saver(saver)


def _batched_view(engine: Any) -> Any:
    from runner.legacy.batched_output import attach_batched_view

    attach_batched_view(engine)  # Clara 4.0 handlers index the output by key: output["loss"]
    return engine


def _reraise_quietly(handler: Any) -> Any:
    """StatsHandler logs a full traceback for the exception that ends a run; the CLI reports it once, in one line."""

    def exception_raised(engine: Any, error: BaseException) -> None:
        raise error

    handler.exception_raised = exception_raised
    return handler


# What the runner does to an object once it is built: (base class, adapter returning the object).
BUILT_ADAPTERS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("monai.handlers.CheckpointSaver", _atomic_checkpoint_saver),  # atomic files; no final model on bad input
    ("monai.handlers.StatsHandler", _reraise_quietly),  # one clear error line, not a traceback (-v shows it)
    ("monai.engines.Workflow", _batched_view),
)


def adapt_built(obj: Any) -> Any:
    """``obj`` after the adapters of :data:`BUILT_ADAPTERS` whose class it is an instance of."""
    for dotted, adapter in BUILT_ADAPTERS:
        if is_subclass(type(obj), dotted):
            obj = adapter(obj)
    return obj
