"""``mmar check``: resolve, reference-check and bind every component without constructing any.

All problems are collected in one pass. Imports happen (a class must exist to check its
signature), but no model, dataset or engine is created and nothing is written.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any

from runner.components import expressions
from runner.components.build import FUNCTION_ITERATION_ARGS, Builder, is_function_iteration, iter_specs
from runner.components.contracts import HANDLER_HINT, handler_problem
from runner.components.packages import missing_handler_package, missing_package
from runner.components.resolve import accepts, check_binding, resolve_target
from runner.components.saved_models import CHECKPOINT_HINT, EXPORT_HINT, model_entry_path
from runner.components.wiring import implicit_providers
from runner.config.load import LoadedConfig
from runner.config.models import ComponentSpec, RefSpec, TorchScriptModel
from runner.errors import ComponentError, ConfigError, ConfigIssue
from runner.legacy.clara_code import mmar_code
from runner.legacy.custom_imports import check_custom_imports
from runner.mmar import display_path, resolve_in_mmar, shadowed_modules

logger = logging.getLogger(__name__)


def check_mmar(loaded: LoadedConfig, inspect_data: bool = False) -> list[ConfigIssue]:
    """Everything ``mmar check`` reports, in one pass; raises ``ConfigError`` if any is an error.

    Returns the warnings. Includes what loading deferred (``LoadedConfig.errors``) and runs the
    component check with the MMAR's ``custom/`` importable. ``mmar train`` runs it too.
    ``inspect_data`` (``mmar check --data``) also opens every file of the datalists and runs the
    first good case of each through its pre-transforms (writing nothing).
    """
    shadowing = shadowed_modules(loaded.mmar.root)
    if shadowing:  # reported before anything imports custom/: importing would run the impostor
        raise ConfigError([*loaded.errors, *shadowing])
    with mmar_code(loaded.mmar.root):
        issues = [*loaded.errors, *loaded.warnings, *check_custom_imports(loaded.mmar.root),
                  *check_components(loaded, inspect_data)]
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return issues


def check_components(loaded: LoadedConfig, inspect_data: bool = False) -> list[ConfigIssue]:
    """Every issue found in the components of ``loaded``; warnings have severity "warning"."""
    builder = Builder(loaded, device="cpu", amp=False)
    issues: list[ConfigIssue] = []
    for item in iter_specs(loaded):
        if item.spec.disabled:
            continue
        try:
            if isinstance(item.spec, RefSpec):
                # The train entry it names is checked in its own right; here only that it exists once.
                builder.referenced_spec(item.section, item.slot, item.spec.ref, item.path)
            else:
                _check_one(builder, item.section, item.slot, item.spec, item.path, issues)
        except ComponentError as exc:
            issues.append(exc.issue)
    if inspect_data:
        issues += _inspect_data(builder, issues)
    if loaded.kind.flat:
        issues += _check_saved_model(loaded)
        issues += check_outputs(loaded, "MMAR_EVAL_OUTPUT_PATH")
    else:
        issues += _check_validation_is_wired(loaded)
        issues += check_outputs(loaded)
    return issues


def _check_saved_model(loaded: LoadedConfig) -> list[ConfigIssue]:
    """The enabled ts_path/ckpt_path file exists (reading it is left to the run: it may be large)."""
    entry = loaded.model.enabled_model
    path = getattr(entry, "ts_path", None) or getattr(entry, "ckpt_path", None)
    if path is None:
        return []
    field = "ts_path" if isinstance(entry, TorchScriptModel) else "ckpt_path"
    file = resolve_in_mmar(loaded.mmar.root, path)
    if file.is_file():
        return []
    hint = EXPORT_HINT if field == "ts_path" else CHECKPOINT_HINT
    return [ConfigIssue(loaded.file, f"{model_entry_path(loaded.model)}.{field}", f"{file} not found", hint)]


def _check_one(builder: Builder, section: str, slot: str, spec: ComponentSpec, path: str, issues: list[ConfigIssue]) -> None:
    target = resolve_target(spec, builder.file, path)
    missing = missing_package(getattr(target, "__name__", spec.label), spec.args)
    if missing is not None:
        issues.append(ConfigIssue(builder.file, path, f"{missing[0]} needs the package {missing[1]}, which is not installed here",
                                  hint=f"pip install {missing[1]}"))
    for key, value in spec.args.items():
        _check_value(builder, section, value, f"{path}.args.{key}", issues)
    if slot == "iteration" and is_function_iteration(target):
        if spec.args:
            issues.append(ConfigIssue(builder.file, f"{path}.args", FUNCTION_ITERATION_ARGS))
        return
    if slot == "handlers" and inspect.isclass(target) and (problem := handler_problem(target, spec.label)):
        issues.append(ConfigIssue(builder.file, path, problem, HANDLER_HINT))
    if slot == "handlers" and (dependency := handler_dependency_issue(builder.file, path, target)) is not None:
        issues.append(dependency)
    names = set(spec.args)
    names |= {n for n in implicit_providers(builder, section, slot, target) if accepts(target, n)}
    check_binding(target, names, spec.label, builder.file, path)
    if slot == "trainer" and _no_epochs(spec.args.get("max_epochs")):
        issues.append(ConfigIssue(builder.file, f"{path}.args.max_epochs", f"max_epochs must be at least 1, got "
                                  f"{spec.args['max_epochs']!r}: the run would train nothing and save an untrained model",
                                  hint="set the epochs variable (or max_epochs) to 1 or more"))
    if slot == "dataset" and spec.args.get("weights_only") is False:
        issues.append(ConfigIssue(builder.file, f"{path}.args.weights_only", "false would unpickle files from the output folder "
                                  "(the dataset's cache), which is data: a file put there would run", hint="leave weights_only out"))
    if slot == "dataset" and isinstance(spec, ComponentSpec) and getattr(spec, "data_list_file_path", None):
        _check_datalist(builder, section, issues)


def handler_dependency_issue(file: str, path: str, target: Any) -> ConfigIssue | None:
    """A handler whose optional package is missing (MLFlowHandler without mlflow) fails only once training runs: say so now."""
    name = getattr(target, "__name__", "")
    package = missing_handler_package(name)
    if package is None:
        return None
    return ConfigIssue(file, path, f"{name} needs the package {package}, which is not installed here: the run would fail "
                       "when the handler first fires", hint=f"pip install {package}, or disable the handler (\"disabled\": true)")


def _check_value(builder: Builder, section: str, value: Any, path: str, issues: list[ConfigIssue]) -> None:
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_value(builder, section, v, f"{path}[{i}]", issues)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_value(builder, section, v, f"{path}.{k}", issues)
        return
    for name in expressions.referenced_names(value):
        if name != "conf" and builder.section_declaring(name, section) is None:
            issues.append(ConfigIssue(builder.file, path, f"@{name} refers to nothing",
                                      "declare it in the train or validate section, or fix the reference"))
    if expressions.is_expression(value) or expressions.is_lambda(value):
        try:
            expressions.compile_source(value)
        except SyntaxError as exc:
            issues.append(ConfigIssue(builder.file, path, f"invalid Python in {value!r}: {exc.msg}"))


MAX_MISSING_FILES_SHOWN = 5


def _check_datalist(builder: Builder, section: str, issues: list[ConfigIssue]) -> None:
    """The datalist exists, has the key, and every file it names exists (all missing ones counted)."""
    entries = builder.datalist(section)
    file, _, key = builder.datalist_source(section)
    where = f"{section}.dataset.data_list_file_path"
    if not entries:
        issues.append(ConfigIssue(builder.file, f"{section}.dataset.data_list_key", f"datalist key '{key}' is empty"))
    missing = [
        f"{key}[{index}].{field}{suffix}: {path}"
        for index, entry in enumerate(entries)
        for field, value in entry.items()
        if field != "label" or builder.segmentation
        for suffix, path in _path_values(value)
        if not Path(path).exists()
    ]
    if missing:
        shown = "; ".join(missing[:MAX_MISSING_FILES_SHOWN]) + (f"; and {len(missing) - MAX_MISSING_FILES_SHOWN} more" if len(missing) > MAX_MISSING_FILES_SHOWN else "")
        issues.append(ConfigIssue(builder.file, where, f"{file}: {len(missing)} file(s) not found: {shown}",
                                  "check DATA_ROOT (environment.json or --set DATA_ROOT=...)"))


def _no_epochs(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value < 1


def _path_values(value: Any) -> list[tuple[str, str]]:
    """The file paths in a datalist field, with their place: ``("", path)``, or ``("[1]", path)`` in a list."""
    if isinstance(value, str) and ("/" in value or "." in value):
        return [("", value)]
    if isinstance(value, list):
        return [(f"[{i}]", item) for i, item in enumerate(value) if isinstance(item, str) and ("/" in item or "." in item)]
    return []


def _inspect_data(builder: Builder, reported: list[ConfigIssue]) -> list[ConfigIssue]:
    """``mmar check --data``: every file of each datalist opened (runner.data.inspect), every bad case listed,
    then each dataset's first good case run through its pre-transforms once (runner.data.first_case)."""
    from runner.data.first_case import run_first_case
    from runner.data.inspect import inspect_datalist

    issues: list[ConfigIssue] = []
    runs = []
    for section in ("train", "validate"):
        spec = builder.spec(section, "dataset")
        if spec is None or not getattr(spec, "data_list_file_path", None):
            continue
        try:
            entries = builder.datalist(section)
        except ComponentError:
            continue  # reported by the datalist check
        file, _, key = builder.datalist_source(section)
        shown = display_path(builder.loaded.mmar.root, file)
        report = inspect_datalist(shown, key, entries, _classes(builder.loaded))
        logger.info("data: %s", report.summary(key))
        issues += report.issues
        run = run_first_case(builder, section, shown, key, entries, report.bad, [*builder.loaded.errors, *reported])
        runs.append(run)
        issues += run.issues
    if runs:
        logger.info("data: pre-transforms: %s", pre_transforms_summary(runs))
    return issues


def pre_transforms_summary(runs: list[Any]) -> str:
    """``training[0] and validation[0] ran once (the first good case of each)``, and the lists not run and why."""
    ran = [r.summary() for r in runs if r.index is not None]
    skipped = [r.summary() for r in runs if r.index is None]
    first = "the first good case of each" if len(ran) > 1 else "the first good case"
    parts = [f"{' and '.join(ran)} ran once ({first})"] if ran else []
    return "; ".join(parts + skipped)


def _classes(loaded: LoadedConfig) -> int | None:
    """How many classes the network predicts (its ``out_channels``), for checking label values; None if unknown."""
    model = loaded.model.enabled_model if loaded.kind.flat else loaded.model.train.model
    args = getattr(model, "args", None) or {}
    value = args.get("out_channels", args.get("num_classes", args.get("n_classes")))
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def check_outputs(loaded: LoadedConfig, where: str = "MMAR_CKPT_DIR") -> list[ConfigIssue]:
    """The output folder (MMAR_CKPT_DIR, MMAR_EVAL_OUTPUT_PATH) must be writable, or creatable; nothing is written."""
    folder = Path(str(loaded.variables[where])) if where != "MMAR_CKPT_DIR" else loaded.ckpt_dir
    if folder.exists() and not folder.is_dir():
        return [ConfigIssue(loaded.mmar.environment_name, where, f"{folder} exists and is not a folder")]
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return [ConfigIssue(loaded.mmar.environment_name, where, f"{folder} is not writable (no write access to {existing})",
                            hint=f"point {where} at a writable folder, e.g. --set {where}=/tmp/out")]
    return []


def _check_validation_is_wired(loaded: LoadedConfig) -> list[ConfigIssue]:
    if loaded.model.validation is None:
        return []
    labels = [h.label for h in loaded.model.train.handlers if not h.disabled]
    if any(label == "ValidationHandler" for label in labels):
        return []
    return [ConfigIssue(loaded.file, "train.handlers", "a validate section is declared but no ValidationHandler runs it",
                        'add {"name": "ValidationHandler", "args": {"interval": 1}} to train.handlers', severity="warning")]
