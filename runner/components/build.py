"""Build the components of a validated config, in dependency order, on demand.

Each slot (``train.model``, ``validate.evaluator``...) is built once, the first time something
asks for it: an explicit ``@name``, a ``#`` expression, or the implicit wiring table. Asking for a
slot that is already being built is a cycle and is reported with its chain. This module is the
only caller of component constructors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.components import expressions
from runner.components.contracts import CheckedIteration, require_handler, require_iteration, with_legacy_event_hook
from runner.components.registry import user_code_location
from runner.components.resolve import accepts, check_binding, resolve_target
from runner.components.saved_models import load_eval_model
from runner.components.wiring import (
    CLASS_CHECKED,
    OBJECT_NAMES_TO_SLOTS,
    adapt_built,
    adapt_distributed,
    adapt_explicit,
    implicit_providers,
)
from runner.config.load import LoadedConfig
from runner.config.models import CheckpointModel, ComponentSpec, EvalConfig, RefSpec, TorchScriptModel
from runner.errors import ComponentError, MmarRunnerError, first_line
from runner.jsonio import load_json
from runner.legacy.transform_arrays import ArrayKind, array_kinds, wants_legacy_arrays, with_legacy_arrays
from runner.mmar import display_path, resolve_in_mmar

logger = logging.getLogger(__name__)

TRANSFORM_LISTS = ("pre_transforms", "post_transforms")
SAVED_MODELS = (TorchScriptModel, CheckpointModel)


def is_function_iteration(target: Any) -> bool:
    """An ``iteration`` given as a plain function is the iteration itself, not a factory to call."""
    import inspect

    return inspect.isfunction(target)


FUNCTION_ITERATION_ARGS = "a function used as the iteration is called as f(engine, batchdata) and takes no args; use a class to configure it"


def _cause(exc: BaseException) -> str:
    """`` in Spacingd (custom/x.py, line 3) ValueError: ...``: a transform MONAI names, where, the innermost error."""
    from runner.workflow.diagnose import innermost

    transform, inner = innermost(exc)
    during = f" in {transform}" if transform else ""
    return f"{during}{user_code_location(inner)} {type(inner).__name__}: {first_line(inner)}"


class ConfigState:
    """Holds the resolved config so checkpoints can store it as ``train_conf``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def state_dict(self) -> dict[str, Any]:
        return self.config

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.config = state


@dataclass(frozen=True)
class SlotSpec:
    """Where a spec lives, for messages: ``train.handlers[2]``."""

    section: str
    slot: str
    index: int | None
    spec: ComponentSpec | RefSpec

    @property
    def path(self) -> str:
        return f"{self.section}.{self.slot}" + (f"[{self.index}]" if self.index is not None else "")


def iter_specs(loaded: LoadedConfig) -> Iterator[SlotSpec]:
    """Every component spec in the config, with its location."""
    for section in ("train", "validate"):
        model = loaded.model.section(section)
        if model is None:
            continue
        for slot, value in model:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, (ComponentSpec, RefSpec)):
                        yield SlotSpec(section, slot, index, item)
            elif isinstance(value, (ComponentSpec, RefSpec)):
                yield SlotSpec(section, slot, None, value)


class Builder:
    """Builds slots lazily; ``get(section, slot)`` returns the built object."""

    def __init__(self, loaded: LoadedConfig, device: Any, amp: bool, rank: int = 0, world_size: int = 1) -> None:
        self.loaded = loaded
        self.device = device
        self.amp = amp
        self.rank = rank
        self.world_size = world_size
        self.file = loaded.file
        self._built: dict[tuple[str, str], Any] = {}
        self._stack: list[tuple[str, str]] = []
        self.supplied: dict[str, str] = {}  # config path -> what the runner filled in that Clara left implicit (for the manifest)

    # ---- what the config declares -------------------------------------------------------
    def section_model(self, section: str) -> Any:
        return self.loaded.model.section(section)

    def spec(self, section: str, slot: str) -> Any:
        """The spec(s) of ``section.slot``; only declared fields count (``@copy`` is not a slot)."""
        model = self.section_model(section)
        if model is None or slot not in type(model).model_fields:
            return None
        return getattr(model, slot)

    def declared(self, section: str, slot: str) -> bool:
        """Whether the config declares something buildable for ``section.slot``."""
        value = self.spec(section, slot)
        if slot in ("key_metric", "additional_metrics"):
            metrics = [m for m in (self.spec(section, "metrics") or []) if not m.disabled]
            legacy = any(m.is_key_metric for m in metrics) if slot == "key_metric" else any(not m.is_key_metric for m in metrics)
            return legacy or bool(value)
        if isinstance(value, list):
            return any(not item.disabled for item in value)
        return isinstance(value, (ComponentSpec, *SAVED_MODELS)) and not value.disabled

    # ---- building -----------------------------------------------------------------------
    def built(self, section: str, slot: str) -> Any | None:
        """The object of a slot if something already built it, else None (never builds)."""
        return self._built.get((section, slot))

    def get(self, section: str, slot: str) -> Any:
        key = (section, slot)
        if key in self._built:
            return self._built[key]
        if key in self._stack:
            chain = " -> ".join(f"{s}.{n}" for s, n in [*self._stack[self._stack.index(key):], key])
            raise ComponentError(self.file, f"{section}.{slot}", f"circular reference: {chain}")
        self._stack.append(key)
        try:
            value = self._build_slot(section, slot)
        finally:
            self._stack.pop()
        self._built[key] = value
        return value

    def replace(self, section: str, slot: str, value: Any) -> None:
        """Swap a built slot for a wrapped one (the DDP model); later references get the new object."""
        self._built[(section, slot)] = value

    def section_declaring(self, name: str, section: str) -> str | None:
        """Where ``@name`` points: the current section first, then the other one; None if nowhere."""
        other = "validate" if section == "train" else "train"
        current = self.section_model(section)
        if current is not None and name in current.model_fields_set and isinstance(getattr(current, name, None), list):
            return section  # a list the section gives, even an empty one, is that section's own
        for candidate in (section, other):
            if self.declared(candidate, name):
                return candidate
        return None

    def reference(self, name: str, section: str, config_path: str) -> Any:
        """Resolve ``@name``; ``@conf`` is the whole substituted config."""
        if name == "conf":
            return self.loaded.resolved
        found = self.section_declaring(name, section)
        if found is None:
            raise ComponentError(self.file, config_path, f"@{name} refers to nothing",
                                 hint=f"declare '{name}' in the train or validate section, or fix the reference")
        return self.get(found, name)

    def resolve_value(self, value: Any, section: str, config_path: str) -> Any:
        """Explicit argument values: ``@refs``, ``#expr`` and lambdas; nested dicts stay raw."""
        if expressions.is_reference(value):
            return self.reference(value[1:], section, config_path)
        if expressions.is_expression(value) or expressions.is_lambda(value):
            try:
                return expressions.evaluate(value, lambda n: self.reference(n, section, config_path))
            except ComponentError:
                raise
            except Exception as exc:  # noqa: BLE001 - user code, reported with its location
                raise ComponentError(self.file, config_path, f"evaluating {value!r} failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(value, list):
            return [self.resolve_value(v, section, f"{config_path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.resolve_value(v, section, f"{config_path}.{k}") for k, v in value.items()}
        return value

    def _build_slot(self, section: str, slot: str) -> Any:
        if slot in TRANSFORM_LISTS:
            from monai.transforms import Compose

            from runner.data.cases import LocatedCompose
            from runner.workflow.diagnose import trace_of

            transforms = self._build_list(section, slot)
            cases = self.case_index(section) if slot == "pre_transforms" else None
            return LocatedCompose(transforms, cases, trace_of(self.loaded)) if slot == "pre_transforms" else Compose(transforms)
        if slot == "handlers":
            return self._build_list(section, slot)
        if slot in ("key_metric", "additional_metrics"):
            return self._metrics(section, slot)
        spec = self.spec(section, slot)
        if slot == "model" and isinstance(self.loaded.model, EvalConfig):
            return load_eval_model(self, self.loaded.model).to(self.device)
        obj = self.build_component(spec, section, slot, f"{section}.{slot}")
        if slot == "model":
            if not callable(getattr(obj, "to", None)) or not callable(getattr(obj, "state_dict", None)):
                raise ComponentError(self.file, f"{section}.model", f"{spec.label} is not a torch.nn.Module",
                                     hint="the model must be a torch.nn.Module (it is moved to the device and its weights are digested)")
            obj = obj.to(self.device)
        return obj

    def _build_list(self, section: str, slot: str) -> list[Any]:
        entries = self.list_entries(section, slot)
        kinds: list[ArrayKind | None] = [None] * len(entries)
        if slot in TRANSFORM_LISTS and self.loaded.model.legacy_custom_transforms:
            kinds = array_kinds([(item.label, item.args) for item, _ in entries], "numpy" if slot == "pre_transforms" else "tensor")
        return [self.build_component(item, section, slot, path, kind) for (item, path), kind in zip(entries, kinds, strict=True)]

    def list_entries(self, section: str, slot: str) -> list[tuple[ComponentSpec, str]]:
        """The entries of a list slot that this rank builds, in order, with their config paths.

        A validate ``ref`` entry comes back as the train entry it names, at its own path; so
        ``mmar check --data`` can say which config entry each built transform is.
        """
        entries = []
        for index, item in enumerate(self.spec(section, slot) or []):
            path = f"{section}.{slot}[{index}]"
            if item.disabled:
                continue
            if isinstance(item, RefSpec):
                item = self.referenced_spec(section, slot, item.ref, path)
            if item.rank is not None and item.rank != self.rank:
                logger.debug("%s: rank %s entry skipped on rank %s", path, item.rank, self.rank)
                continue
            entries.append((item, path))
        return entries

    def referenced_spec(self, section: str, slot: str, name: str, config_path: str) -> ComponentSpec:
        """The train-section entry a validate ``ref`` names; a fresh object is built from it."""
        candidates = [s for s in (self.spec("train", slot) or []) if isinstance(s, ComponentSpec) and name in (s.name, s.label)]
        if not candidates:
            raise ComponentError(self.file, f"{config_path}.ref", f"ref '{name}' matches no entry in train.{slot}")
        if len(candidates) > 1:
            raise ComponentError(self.file, f"{config_path}.ref", f"ref '{name}' is ambiguous: train.{slot} has it {len(candidates)} times",
                                 hint="declare the component in full instead of using ref")
        return candidates[0]

    def _metrics(self, section: str, slot: str) -> dict[str, Any]:
        model = self.section_model(section)
        if slot == "key_metric" and model.key_metric is not None:
            entries = [(model.key_metric, f"{section}.key_metric")]
        elif slot == "additional_metrics" and model.additional_metrics:
            entries = [(m, f"{section}.additional_metrics[{i}]") for i, m in enumerate(model.additional_metrics)]
        else:
            want_key = slot == "key_metric"
            entries = [(m, f"{section}.metrics[{i}]") for i, m in enumerate(model.metrics) if m.is_key_metric == want_key]
        return {
            (spec.log_label or spec.label): self.build_component(spec, section, slot, path)
            for spec, path in entries
            if not spec.disabled
        }

    def build_component(self, spec: ComponentSpec, section: str, slot: str, config_path: str,
                        array_kind: ArrayKind | None = None) -> Any:
        """Resolve, wire, bind and construct one component, then check the contract of its slot.

        ``array_kind``: for a custom transform written for MONAI 0.8, the arrays it gets (see
        :mod:`runner.legacy.transform_arrays`); None for everything else.
        """
        target = resolve_target(spec, self.file, config_path)
        if array_kind is not None and wants_legacy_arrays(target, self.loaded.mmar.custom_dir):
            target = with_legacy_arrays(target, array_kind)
            self.supplied[config_path] = f"{spec.label} gets {array_kind} arrays, as in MONAI 0.8 (legacy_custom_transforms)"
        if slot == "iteration" and is_function_iteration(target):
            if spec.args:
                raise ComponentError(self.file, f"{config_path}.args", FUNCTION_ITERATION_ARGS)
            return self._checked_iteration(target, section, spec, config_path)
        if slot in ("trainer", "evaluator"):
            target = with_legacy_event_hook(target)
        kwargs = {k: self.resolve_value(v, section, f"{config_path}.args.{k}") for k, v in spec.args.items()}
        kwargs = adapt_explicit(self, section, slot, target, kwargs)
        for name, provider in implicit_providers(self, section, slot, target).items():
            if name not in kwargs and (accepts(target, name) or name in CLASS_CHECKED):
                try:
                    kwargs[name] = provider()
                except MmarRunnerError:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. .parameters() on a model that has none
                    raise ComponentError(self.file, config_path, f"the runner could not supply '{name}' to {spec.label}: "
                                         f"{type(exc).__name__}: {exc}", hint=f"set \"{name}\" in {config_path}.args") from exc
        kwargs = adapt_distributed(self, section, slot, target, kwargs)
        check_binding(target, kwargs, spec.label, self.file, config_path)
        try:
            obj = target(**kwargs)
        except MmarRunnerError:  # a component error inside, or a datalist case that fails while a cache fills
            raise
        except Exception as exc:  # noqa: BLE001 - constructor of user or library code
            raise ComponentError(self.file, config_path, f"{spec.label}(...) raised{_cause(exc)}") from exc
        if slot == "handlers":
            require_handler(obj, spec.label, self.file, config_path)
        elif slot == "iteration":
            return self._checked_iteration(obj, section, spec, config_path)
        return adapt_built(obj)

    def _checked_iteration(self, iteration: Any, section: str, spec: ComponentSpec, config_path: str) -> CheckedIteration:
        require_iteration(iteration, spec.label, self.file, config_path)
        return CheckedIteration(iteration, section == "train", spec.label, self.file, config_path)

    # ---- helpers the wiring table uses --------------------------------------------------
    def datalist_source(self, section: str) -> tuple[Path, Path | None, str]:
        """The datalist file, base folder and key of a section's dataset, anchored at the MMAR root."""
        spec = self.spec(section, "dataset")
        root = self.loaded.mmar.root
        base = resolve_in_mmar(root, spec.data_file_base_dir) if spec.data_file_base_dir else None
        key = spec.data_list_key or ("training" if section == "train" else "validation")
        return resolve_in_mmar(root, str(spec.data_list_file_path)), base, key

    def datalist(self, section: str) -> list[dict[str, Any]]:
        """The datalist entries, with relative paths joined to the base folder."""
        from monai.data import load_decathlon_datalist

        path = f"{section}.dataset"
        file, base, key = self.datalist_source(section)
        if not file.is_file():
            raise ComponentError(self.file, f"{path}.data_list_file_path", f"datalist {file} not found",
                                 hint="check DATASET_JSON (environment.json or --set DATASET_JSON=...)")
        try:
            listing = load_json(file)
        except MmarRunnerError as exc:
            raise ComponentError(self.file, f"{path}.data_list_file_path", exc.message) from None
        if not isinstance(listing, dict) or key not in listing:
            keys = ", ".join(listing) if isinstance(listing, dict) else "none (not a JSON object)"
            raise ComponentError(self.file, f"{path}.data_list_key", f"{file} has no key '{key}'", hint=f"its keys: {keys}")
        try:
            return list(load_decathlon_datalist(file, self.segmentation, key, base_dir=base))
        except (TypeError, ValueError, KeyError, OSError) as exc:
            raise ComponentError(self.file, f"{path}.data_list_file_path",
                                 f"{file}: '{key}' is not a Decathlon-style list of objects: {exc}") from None

    def case_index(self, section: str) -> Any:
        """The section's datalist entries by file (runner.data.cases), so a failing pre-transform names its case."""
        from runner.data.cases import CaseIndex

        spec = self.spec(section, "dataset")
        if spec is None or not getattr(spec, "data_list_file_path", None):
            return None
        file, _, key = self.datalist_source(section)
        return CaseIndex.from_entries(display_path(self.loaded.mmar.root, file), key, self.datalist(section))

    def cache_dir(self, section: str) -> str:
        """A dataset cache folder for ``section`` under MMAR_CACHE_DIR (default ``<MMAR_CKPT_DIR>/cache``)."""
        folder = Path(str(self.loaded.variables["MMAR_CACHE_DIR"])) / section
        folder.mkdir(parents=True, exist_ok=True)
        self.supplied[f"{section}.dataset.args.cache_dir"] = str(folder)
        return str(folder)

    @property
    def segmentation(self) -> bool:
        """Clara's PROCESSING_TASK: a classification datalist's labels are values, not files under DATA_ROOT."""
        return str(self.loaded.variables.get("PROCESSING_TASK") or "segmentation").lower() != "classification"

    def generator(self, label: str) -> Any:
        import torch

        from runner.determinism import derive_seed

        return torch.Generator().manual_seed(derive_seed(self.loaded.seed, self.rank_label(label)))

    def rank_label(self, label: str) -> str:
        """A seed label per rank when distributed (each rank augments its own shard differently)."""
        return f"{label}.rank{self.rank}" if self.world_size > 1 else label

    def objects_for_checkpoint(self, value: Any, section: str) -> dict[str, Any]:
        """A 4.0 list of names, or a 4.1 dict, as objects with ``state_dict``."""
        names = {name: name for name in value} if isinstance(value, list) else dict(value)
        objects: dict[str, Any] = {}
        for key, item in names.items():
            if item == "train_conf" or (key == "train_conf" and isinstance(item, (str, dict))):
                objects[key] = ConfigState(self.loaded.resolved)
            elif isinstance(item, str):
                objects[key] = self.reference(OBJECT_NAMES_TO_SLOTS.get(item, item), section, f"{section}.handlers")
            elif isinstance(item, dict):
                objects[key] = ConfigState(item)
            else:
                objects[key] = item
        return objects
