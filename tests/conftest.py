"""Shared fixtures: tiny MMARs written per test, one small synthetic data set per session."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mlflow_server import mlflow_uri, own_server  # noqa: F401 - fixtures: a real MLflow server

REPO = Path(__file__).resolve().parents[1]
DEMO_BUNDLE = REPO / "bundles" / "spleen_ct_seg"

# Small enough for seconds on 2 CPU cores, still the demo bundle's real pipeline.
TINY_SET = [
    "epochs=2",
    "num_interval_per_valid=1",
    "patch_size=[32,32,32]",
    "val_roi_size=[48,48,48]",
    "num_samples=2",
    "num_workers=0",
    "channels=[4,8,16]",
    "strides=[2,2]",
    "cache_rate=1.0",
]


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4+2+2 (train, validation, test) case spleen-like data set at 40x40x32, made once per test session."""
    from runner.data.synthetic import SyntheticSpec, write_dataset

    out = tmp_path_factory.mktemp("synthetic")
    write_dataset(out, SyntheticSpec(train_cases=4, val_cases=2, test_cases=2, shape=(40, 40, 32), seed=0))
    return out


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def make_mmar(tmp_path: Path, synthetic_data: Path) -> Callable[..., Path]:
    """Write an MMAR into tmp_path: ``make_mmar(config=..., environment=..., custom={"x.py": src})``.

    With no config, the demo bundle's config_train.json is used (a copy, free to edit via ``edit``).
    """

    def make(config: dict[str, Any] | str | None = None, environment: dict[str, Any] | None = None,
             custom: dict[str, str] | None = None, edit: Callable[[dict[str, Any]], None] | None = None,
             name: str = "mmar") -> Path:
        root = tmp_path / name
        (root / "config").mkdir(parents=True, exist_ok=True)
        if config is None:
            config = json.loads((DEMO_BUNDLE / "config" / "config_train.json").read_text())
        if isinstance(config, dict):
            config = copy.deepcopy(config)
            if edit is not None:
                edit(config)
            write_json(root / "config" / "config_train.json", config)
        else:
            (root / "config" / "config_train.json").write_text(config, encoding="utf-8")
        env = {"DATA_ROOT": str(synthetic_data), "DATASET_JSON": str(synthetic_data / "dataset.json"),
               "MMAR_CKPT_DIR": "models", "MMAR_CKPT": "models/model.pt"}
        env.update(environment or {})
        write_json(root / "config" / "environment.json", env)
        for filename, source in (custom or {}).items():
            target = root / "custom" / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
        return root

    return make


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m runner ARGS`` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "runner", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


@pytest.fixture(autouse=True)
def _restore_global_state() -> Any:
    """Runs in one process must not leak seeds or sys.path entries into each other."""
    saved_path = list(sys.path)
    yield
    sys.path[:] = saved_path
    _drop_handlers_on_closed_streams()
    try:
        from monai.utils import set_determinism

        set_determinism(seed=None)
        import torch

        torch.use_deterministic_algorithms(False)
    except ImportError:
        pass


def _drop_handlers_on_closed_streams() -> None:
    """MONAI/ignite loggers keep a StreamHandler on whatever stderr was current when they were made;
    in-process CLI tests swap stderr for a buffer that is then closed. Real processes never do."""
    import logging

    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    for logger in loggers:
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                logger.removeHandler(handler)


LONG_LIVED_SCOPES = ("module", "class", "package")
MLFLOW_FIXTURES = ("mlflow_uri", "own_server")  # a real server per session: one worker starts it, not both


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks to group the tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs two pytest-xdist workers (--dist loadgroup); this says what must stay together.

    The docker tests share one private engine (tests/image/engine.py): they all run on one worker,
    as do the tests that talk to the session's MLflow server.
    A module with a module- or class-scoped fixture (a model trained once for several tests) runs
    whole on one worker, so the fixture is made once. Every other test goes wherever a worker is free.
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = _worker_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _worker_group(item: pytest.Item) -> str | None:
    path = Path(str(item.path))
    if (REPO / "tests" / "image") in path.parents:
        return "docker"
    if any(name in item.fixturenames for name in MLFLOW_FIXTURES):
        return "mlflow"
    fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    if any(defs and defs[-1].scope in LONG_LIVED_SCOPES for defs in fixtures.values()):
        return item.nodeid.split("::", 1)[0]
    return None
