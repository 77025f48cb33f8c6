"""``mmar convert``: read the MMAR as ``mmar train`` reads it, translate, write the bundle in one rename.

The bundle is built in a hidden folder beside ``--out`` and renamed into place at the end, so a
refusal or any failure leaves nothing behind (and an existing ``--out`` untouched without ``--force``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runner.config.kinds import INFERENCE, VALIDATION
from runner.config.load import load_config, load_train_config
from runner.convert.components import Translator
from runner.convert.eval_config import eval_config
from runner.convert.metadata import metadata
from runner.convert.refs import PINS_MODULE
from runner.convert.scripts import imports_each_other, write_scripts
from runner.convert.train_config import train_config
from runner.errors import MmarLayoutError, MmarRunnerError

TRAIN_JSON = "configs/train.json"
METADATA_JSON = "configs/metadata.json"
EVALUATE_JSON = "configs/evaluate.json"
LOGGING_CONF = "configs/logging.conf"
INFER_JSON = "configs/inference.json"
VALIDATE_SOURCE = "config/config_validation.json"
INFER_SOURCE = "config/config_inference.json"


@dataclass(frozen=True)
class Conversion:
    source: Path
    target: Path
    written: list[str] = field(default_factory=list)
    imports_rewritten: dict[str, int] = field(default_factory=dict)

    def command(self) -> str:
        return f"cd {self.target} && python -m monai.bundle run --config_file {TRAIN_JSON} --meta_file {METADATA_JSON} --bundle_root ."


def convert_mmar(source: Path, target: Path, config: str | None = None, environment: str | None = None,
                 sets: Iterable[str] = (), force: bool = False) -> Conversion:
    """Write the bundle for ``source`` at ``target``.

    Raises:
        MmarLayoutError / ConfigError: the MMAR is not one ``mmar train`` accepts (exit 2).
        Refusal: it uses something a bundle cannot express (exit 2), named by file and JSON path.
    """
    from runner.legacy.clara_code import mmar_code

    source = source.expanduser().resolve()
    target = target.expanduser().resolve()
    if target == source or source in target.parents:
        raise MmarRunnerError(f"--out {target}: must be outside the MMAR being converted")
    if target.exists() and not force:
        raise MmarLayoutError(f"{target} already exists", hint="choose another --out, or pass --force to replace it")
    loaded = load_train_config(source, config, environment, list(sets))
    configs: dict[str, dict] = {}
    with mmar_code(source):
        translator = Translator(loaded)
        train = train_config(loaded, translator)
        for file, kind, inference in ((VALIDATE_SOURCE, VALIDATION, False), (INFER_SOURCE, INFERENCE, True)):
            if (source / file).is_file():
                evaluated = load_config(source, file, environment, list(sets), kind=kind)
                configs[INFER_JSON if inference else EVALUATE_JSON] = eval_config(evaluated, loaded, train, inference)
    if imports_each_other(loaded.mmar.custom_dir):
        train["initialize"].insert(0, f"${PINS_MODULE}.on_path(@bundle_root + '/scripts')")
    meta = metadata(loaded, source.name)
    staging = target.with_name(f".{target.name}.converting-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "configs").mkdir(parents=True)
        (staging / "models").mkdir()
        _write_json(staging / TRAIN_JSON, train)
        _write_json(staging / METADATA_JSON, meta)
        for name, value in configs.items():
            _write_json(staging / name, value)
        rewritten = write_scripts(loaded.mmar.custom_dir, staging / "scripts")
        log_config = source / "resources" / "log.config"
        if log_config.is_file():  # Clara's logging.config INI is what MONAI reads as configs/logging.conf
            shutil.copyfile(log_config, staging / LOGGING_CONF)
        docs = source / "docs"
        if docs.is_dir():
            shutil.copytree(docs, staging / "docs")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    return Conversion(source, target, written, rewritten)


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
