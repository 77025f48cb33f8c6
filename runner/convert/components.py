"""One MMAR component -> one bundle config node, wired exactly as the runner's builder would wire it.

:class:`Translator` is the runner's :class:`~runner.components.build.Builder` with construction
replaced by writing: the same lists (disabled and ``ref`` entries, ``rank``), the same metric
split, the same implicit wiring table (:func:`runner.components.wiring.implicit_providers`) and
4.0 argument shapes (:func:`~runner.components.wiring.adapt_explicit`), but where the builder
would call a constructor it returns ``{"_target_": ..., **kwargs}``, where it would pass an
object it returns a :class:`~runner.convert.refs.Ref`, and where it would evaluate ``#expr`` or a
lambda it returns the MONAI ``$`` expression. What only the runner can do is refused
(:class:`Refusal`, exit 2) naming the file and JSON path.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from runner.components import expressions
from runner.components.build import TRANSFORM_LISTS, Builder, ConfigState, is_function_iteration
from runner.components.contracts import defines_legacy_event_hook
from runner.components.registry import SEARCH_MODULES
from runner.components.resolve import accepts, resolve_target
from runner.components.wiring import CLASS_CHECKED, adapt_explicit, implicit_providers, is_subclass
from runner.config.load import LoadedConfig
from runner.config.models import ComponentSpec, EvalConfig
from runner.convert.refs import CONF, PINS_MODULE, ConfRef, Expr, Ref, python_literal, slot_id
from runner.errors import ComponentError
from runner.legacy.transform_arrays import ArrayKind, wants_legacy_arrays
from runner.mmar import resolve_in_mmar

NOT_A_BUNDLE = "cannot be expressed as a MONAI bundle"
MONAI_SPECIAL = ("$", "@", "%")  # a string MONAI's parser would read as an expression, reference or macro
DROPPED_ARGS = {"state_attributes"}  # the runner's own: TensorBoardStatsHandler reads the learning rate its RunRecord keeps


class Refusal(ComponentError):
    """The MMAR uses something a MONAI bundle cannot express (exit 2, nothing written)."""

    def __init__(self, file: str, config_path: str, why: str, hint: str | None = None) -> None:
        super().__init__(file, config_path, f"{NOT_A_BUNDLE}: {why}", hint)


class _Device:
    """Stands for the run's device while the wiring table runs: a literal "cuda" then becomes ``@device``."""

    type = "cpu"


class Translator(Builder):
    """Writes bundle nodes where :class:`Builder` builds objects. ``node(section, slot)`` is the entry point."""

    def __init__(self, loaded: LoadedConfig) -> None:
        super().__init__(loaded, device=_Device(), amp=Ref("amp"))
        self.ckpt_dir = str(loaded.ckpt_dir)
        self.data_root = _path_variable(loaded, "DATA_ROOT")
        self.dataset_json = _path_variable(loaded, "DATASET_JSON")
        self.custom_dir = loaded.mmar.custom_dir.resolve()
        output = _path_variable(loaded, "MMAR_EVAL_OUTPUT_PATH")
        self.output_dir = str(output) if output is not None else None
        self.referenced: set[tuple[str, str]] = set()

    # ---- the builder's hooks, answered with references ----------------------------------
    def get(self, section: str, slot: str) -> Any:
        self.referenced.add((section, slot))
        return Ref(slot_id(section, slot))

    def reference(self, name: str, section: str, config_path: str) -> Any:
        if name == "conf":
            return CONF
        return super().reference(name, section, config_path)

    def node(self, section: str, slot: str) -> Any:
        """The bundle node of a declared slot (a component, a list of handlers, a metrics dict, a Compose)."""
        if slot == "model" and isinstance(self.loaded.model, EvalConfig):
            raise Refusal(self.file, "model", "the model is read from a TorchScript file or a checkpoint's train_conf")
        if slot in TRANSFORM_LISTS:
            return {"_target_": "Compose", "transforms": self._build_list(section, slot)}
        if slot == "handlers":
            return self._build_list(section, slot)
        if slot in ("key_metric", "additional_metrics"):
            return self._metrics(section, slot)
        return self.build_component(self.spec(section, slot), section, slot, f"{section}.{slot}")

    def datalist(self, section: str) -> Any:
        file, base, key = self.datalist_source(section)
        file_expr = "@data_list_file_path" if self.dataset_json and file == self.dataset_json else python_literal(str(file))
        base_expr = "None" if base is None else "@dataset_dir" if self.data_root and base == self.data_root else python_literal(str(base))
        return Expr(f"monai.data.load_decathlon_datalist({file_expr}, {self.segmentation}, {key!r}, base_dir={base_expr})")

    def generator(self, label: str) -> Any:
        return Expr(f"{PINS_MODULE}.generator(@seed, {self.rank_label(label)!r})")

    def cache_dir(self, section: str) -> Any:
        cache = str(self.loaded.variables.get("MMAR_CACHE_DIR") or "")
        default = str(Path(self.ckpt_dir) / "cache")
        where = "@ckpt_dir + '/cache'" if cache in ("", default) else python_literal(cache)
        return Expr(f"{PINS_MODULE}.folder({where} + '/{section}')")

    # ---- values -------------------------------------------------------------------------
    def resolve_value(self, value: Any, section: str, config_path: str) -> Any:
        if expressions.is_reference(value):
            return self.reference(value[1:], section, config_path)
        if expressions.is_expression(value) or expressions.is_lambda(value):
            return self._expression(value, section, config_path)
        if isinstance(value, list):
            return [self.resolve_value(v, section, f"{config_path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.resolve_value(v, section, f"{config_path}.{k}") for k, v in value.items()}
        return value

    def _expression(self, value: str, section: str, config_path: str) -> Expr:
        def token(match: Any) -> str:
            target = self.reference(match.group(1), section, config_path)
            if isinstance(target, ConfRef):
                raise Refusal(self.file, config_path, f"{value!r} uses @conf, Clara's whole config, which a bundle has no object for")
            return target.render()

        body = value[1:] if value.startswith("#") else value
        return Expr(expressions._TOKEN.sub(token, body).strip())

    # ---- one component ------------------------------------------------------------------
    def build_component(self, spec: ComponentSpec, section: str, slot: str, config_path: str,
                        array_kind: ArrayKind | None = None) -> Any:
        target = resolve_target(spec, self.file, config_path)
        where = f"{config_path}.path" if spec.path else f"{config_path}.name"
        if array_kind is not None and wants_legacy_arrays(target, self.custom_dir):
            raise Refusal(self.file, where, f"{spec.label} is custom code written for MONAI 0.8's numpy arrays; the runner converts "
                          "its inputs (legacy_custom_transforms), MONAI does not",
                          hint="make the transform take MetaTensors and set \"legacy_custom_transforms\": false, then convert")
        if slot == "iteration" and is_function_iteration(target):
            return Expr(self.target_name(spec, target))
        if slot in ("trainer", "evaluator"):
            self._require_engine(spec, target, slot, where)
        kwargs = {k: self.resolve_value(v, section, f"{config_path}.args.{k}") for k, v in spec.args.items()}
        kwargs = adapt_explicit(self, section, slot, target, kwargs)
        for name, provider in implicit_providers(self, section, slot, target).items():
            if name not in kwargs and name not in DROPPED_ARGS and (accepts(target, name) or name in CLASS_CHECKED):
                kwargs[name] = provider()
        kwargs = self._sampler(section, slot, target, kwargs)
        if slot in ("trainer", "evaluator") and kwargs.get("amp") is True:
            kwargs["amp"] = Ref("amp")  # amp only where CUDA runs, as the runner decides
        if slot == "trainer" and kwargs.get("max_epochs") == getattr(self.loaded.model, "epochs", None):
            kwargs["max_epochs"] = Ref("epochs")
        if slot in ("trainer", "evaluator"):
            kwargs = _engine_order(kwargs)
        node = {"_target_": self.engine_target(spec, target) if slot in ("trainer", "evaluator") else self.target_name(spec, target)}
        for key, value in kwargs.items():
            if key.startswith("_") and key.endswith("_"):
                raise Refusal(self.file, f"{config_path}.args.{key}", f"'{key}' is a key MONAI's parser reserves")
            rendered = self.render(value, f"{config_path}.args.{key}", key)
            if rendered is not _DROP:
                node[key] = rendered
        return node

    def _require_engine(self, spec: ComponentSpec, target: Any, slot: str, where: str) -> None:
        if not is_subclass(target, "monai.engines.Workflow"):
            raise Refusal(self.file, where, f"{spec.label} is a bring-your-own {slot} (not a MONAI engine): a bundle's "
                          f"{slot} is an ignite engine that MONAI and the runner drive",
                          hint="keep training it with mmar train MMAR, or rewrite it as a SupervisedTrainer with handlers")

    def engine_target(self, spec: ComponentSpec, target: Any) -> str:
        """An engine's ``_target_``; a Clara-era trainer with its own event hook gets the class the runner would build.

        MONAI no longer calls ``_register_additional_events``; ``mmar_pins.legacy_event_hook`` makes
        the subclass :func:`runner.components.contracts.with_legacy_event_hook` makes. The class is
        named by its path, imported when the engine is built (after ``initialize``), not at parse time.
        """
        name = self.target_name(spec, target)
        if not defines_legacy_event_hook(target):
            return name
        return Expr(f"{PINS_MODULE}.legacy_event_hook({name!r})").render()

    def _sampler(self, section: str, slot: str, target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The seeded sampler :func:`runner.components.wiring.adapt_distributed` gives a shuffled training loader."""
        if slot != "dataloader" or not is_subclass(target, "torch.utils.data.DataLoader"):
            return kwargs
        if kwargs.get("sampler") is not None or "dataset" not in kwargs or not (section == "train" and kwargs.get("shuffle")):
            return kwargs
        kwargs = dict(kwargs)
        kwargs.pop("shuffle")
        dataset = kwargs["dataset"].render() if isinstance(kwargs["dataset"], Ref) else None
        if dataset is None:
            raise Refusal(self.file, f"{section}.dataloader.args.dataset", "a shuffled loader's dataset must be the section's dataset")
        kwargs["sampler"] = Expr(f"{PINS_MODULE}.sampler({dataset}, @seed, {self.rank_label(f'{section}.sampler')!r}, True)")
        return kwargs

    def target_name(self, spec: ComponentSpec, target: Any) -> str:
        """What ``_target_`` names: custom code as ``scripts.<module>.<Class>``, MONAI by its short name, the rest by path."""
        module = sys.modules.get(getattr(target, "__module__", "") or "")
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(self.custom_dir):
            relative = Path(file).resolve().relative_to(self.custom_dir).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            return ".".join(["scripts", *parts, target.__qualname__])
        if spec.path:
            return spec.path
        name = spec.name or ""
        if _monai_locates(name, target):
            return name
        for module_name in SEARCH_MODULES:
            if getattr(importlib.import_module(module_name), name, None) is target:
                return f"{module_name}.{name}"
        return f"{target.__module__}.{target.__qualname__}"

    def render(self, value: Any, config_path: str, key: str | None = None) -> Any:
        """A translated value as bundle JSON; objects that only exist in the runner are refused or dropped."""
        if isinstance(value, (Ref, Expr)):
            return value.render()
        if isinstance(value, (ConfRef, ConfigState)):
            if key == "train_conf":
                return _DROP  # save_dict's copy of Clara's config: the bundle's configs/ are the config
            raise Refusal(self.file, config_path, "@conf (Clara's whole config) has no bundle equivalent outside a checkpoint's save_dict")
        if isinstance(value, _Device):
            return "@device"
        if isinstance(value, str):
            if value == self.ckpt_dir:
                return "@ckpt_dir"
            if self.output_dir and value == self.output_dir and self.loaded.kind.flat:
                return "@output_dir"
            if value.startswith(MONAI_SPECIAL):
                raise Refusal(self.file, config_path, f"the string {value!r} would be read by MONAI's parser as code or a reference")
            return value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, Path):
            return self.render(str(value), config_path, key)
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                rendered = self.render(v, f"{config_path}.{k}", str(k))
                if rendered is not _DROP:
                    out[str(k)] = rendered
            return out
        if isinstance(value, (list, tuple)):
            return [self.render(v, f"{config_path}[{i}]") for i, v in enumerate(value)]
        if inspect.isfunction(value) or inspect.isbuiltin(value):
            return f"${_function_path(value)}"
        raise Refusal(self.file, config_path, f"a {type(value).__name__} value the runner computes while building")


class _Drop:
    pass


_DROP = _Drop()
ENGINE_FIRST = ("network", "loss_function", "optimizer")  # built in this order first, as the runner builds model, loss, optimizer


def _engine_order(kwargs: dict[str, Any]) -> dict[str, Any]:
    first = {k: kwargs[k] for k in ENGINE_FIRST if k in kwargs}
    return {**first, **{k: v for k, v in kwargs.items() if k not in first}}


def _function_path(function: Any) -> str:
    """An importable path for a function the wiring supplies (PersistentDataset's hashing is MONAI's own)."""
    if function.__name__ == "_transform_hashing":
        return "monai.data.utils.json_hashing"
    return f"{function.__module__}.{function.__qualname__}"


def _monai_locates(name: str, target: Any) -> bool:
    """Whether MONAI's parser finds ``name`` alone (``"_target_": "UNet"``) and finds this very object."""
    from monai.bundle.config_item import ComponentLocator

    try:
        module = ComponentLocator().get_component_module_name(name)
    except Exception:  # noqa: BLE001 - the locator imports MONAI modules; any failure means "not by short name"
        return False
    return isinstance(module, str) and getattr(importlib.import_module(module), name, None) is target


def _path_variable(loaded: LoadedConfig, name: str) -> Path | None:
    value = loaded.variables.get(name)
    return resolve_in_mmar(loaded.mmar.root, str(value)) if isinstance(value, str) and value else None
