"""The spleen pipeline three ways (mmar, hand-written MONAI, MONAI bundle), as benchmark commands.

One :class:`Workspace` per benchmark run holds the synthetic data sets (one per size), a copy of
``bundles/spleen_ct_seg`` with the first-iteration probe among its train handlers, and an output
folder per variant. :class:`Sizes` turns one set of sizes into each tool's own arguments, so the
three variants always train the same thing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import BENCH, MMAR_CLI, PYTHON, REPO, Command, run_checked

SOURCE_MMAR = REPO / "bundles" / "spleen_ct_seg"
PROBE_MODULE = BENCH / "bench_probe.py"
HANDWRITTEN = BENCH / "handwritten_spleen.py"
BUNDLE_DIR = BENCH / "monai_bundle"
VARIANTS = ("mmar", "handwritten", "monai_bundle")


@dataclass(frozen=True)
class Sizes:
    """The demo sizes (as ``make train``), with epochs and data set size free to vary."""

    epochs: int = 10
    train_cases: int = 8
    learning_rate: float = 3e-3
    val_interval: int = 5
    patch_size: tuple[int, int, int] = (48, 48, 48)
    val_roi_size: tuple[int, int, int] = (64, 64, 64)
    num_samples: int = 2
    num_workers: int = 0
    batch_size: int = 2
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    pixdim: tuple[float, float, float] = (1.5, 1.5, 2.0)
    cache_rate: float = 1.0
    seed: int = 0

    def mmar_set(self) -> list[str]:
        """``--set`` words for ``mmar train``; pixdim, batch size, cache rate and seed are the config's own."""
        return [
            f"epochs={self.epochs}",
            f"learning_rate={self.learning_rate:g}",
            f"num_interval_per_valid={self.val_interval}",
            f"patch_size={_compact(self.patch_size)}",
            f"val_roi_size={_compact(self.val_roi_size)}",
            f"num_samples={self.num_samples}",
            f"num_workers={self.num_workers}",
            f"channels={_compact(self.channels)}",
            f"strides={_compact(self.strides)}",
        ]

    def handwritten_args(self) -> list[str]:
        """Command-line options of ``handwritten_spleen.py``."""
        return [
            "--epochs", str(self.epochs),
            "--learning-rate", f"{self.learning_rate:g}",
            "--val-interval", str(self.val_interval),
            "--patch-size", *map(str, self.patch_size),
            "--val-roi-size", *map(str, self.val_roi_size),
            "--num-samples", str(self.num_samples),
            "--num-workers", str(self.num_workers),
            "--batch-size", str(self.batch_size),
            "--channels", *map(str, self.channels),
            "--strides", *map(str, self.strides),
            "--pixdim", *map(str, self.pixdim),
            "--cache-rate", str(self.cache_rate),
            "--seed", str(self.seed),
        ]

    def bundle_overrides(self) -> list[str]:
        """``--id value`` overrides of the MONAI bundle's train.json."""
        return [word for key, value in self.bundle_values().items() for word in (f"--{key}", str(value))]

    def bundle_set_words(self) -> list[str]:
        """The same overrides as ``mmar train BUNDLE --set`` words."""
        return [f"{key}={value}" for key, value in self.bundle_values().items()]

    def bundle_values(self) -> dict[str, Any]:
        """The MONAI bundle's ids and values for these sizes."""
        values: dict[str, Any] = {
            "epochs": self.epochs,
            "learning_rate": f"{self.learning_rate:g}",
            "val_interval": self.val_interval,
            "patch_size": _compact(self.patch_size),
            "val_roi_size": _compact(self.val_roi_size),
            "num_samples": self.num_samples,
            "num_workers": self.num_workers,
            "batch_size": self.batch_size,
            "channels": _compact(self.channels),
            "strides": _compact(self.strides),
            "pixdim": _compact(self.pixdim),
            "cache_rate": self.cache_rate,
            "seed": self.seed,
        }
        return values


def _compact(values: tuple[float, ...]) -> str:
    """``(48, 48, 48)`` -> ``[48,48,48]`` (one shell word, as the CLIs expect)."""
    return "[" + ",".join(str(v) for v in values) + "]"


@dataclass(frozen=True)
class Workspace:
    """The temporary folder of one benchmark run."""

    root: Path
    mmar: Path

    def data(self, train_cases: int) -> Path:
        """The synthetic data set with ``train_cases`` training volumes (and 2 validation ones), made once."""
        folder = self.root / "data" / f"train{train_cases}"
        if not (folder / "dataset.json").is_file():
            run_checked([MMAR_CLI, "synthetic-data", str(folder), "--train-cases", str(train_cases)], "mmar synthetic-data")
        return folder

    def output_dir(self, label: str) -> Path:
        return self.root / "outputs" / label

    def probe_file(self, label: str) -> Path:
        return self.root / "probes" / f"{label}.txt"


def prepare_workspace(root: Path) -> Workspace:
    """A copy of the demo MMAR with the probe among its train handlers and no data or outputs."""
    mmar = root / "spleen_ct_seg"
    shutil.copytree(SOURCE_MMAR, mmar, ignore=_skip_outputs_and_data)
    shutil.copy2(PROBE_MODULE, mmar / "custom" / PROBE_MODULE.name)
    config_file = mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["train"]["handlers"].append({"path": "bench_probe.FirstIterationProbe"})
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return Workspace(root, mmar)


def _skip_outputs_and_data(folder: str, names: list[str]) -> list[str]:
    """copytree filter: leave out the source MMAR's data set and whatever earlier runs left in models/ and eval/."""
    here = Path(folder)
    if here == SOURCE_MMAR:
        return [n for n in names if n == "data"]
    if here.name in ("models", "eval") and here.parent == SOURCE_MMAR:
        return [n for n in names if n != ".gitkeep"]
    return []


def bundle_launcher() -> list[str]:
    """The real ``python -m monai.bundle``; its CLI needs the optional ``fire`` package (a dev extra here)."""
    if importlib.util.find_spec("fire") is None:
        raise SystemExit("python -m monai.bundle needs the 'fire' package: make install (it is in the dev extra)")
    return [PYTHON, "-m", "monai.bundle"]


def mmar_command(workspace: Workspace, sizes: Sizes, label: str = "mmar", extra_set: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> Command:
    """``mmar train`` on the workspace copy, writing to its own output folder (``env``: extra variables)."""
    data = workspace.data(sizes.train_cases)
    out = workspace.output_dir(label)
    words = [*sizes.mmar_set(), f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset.json'}", f"MMAR_CKPT_DIR={out}", *extra_set]
    return Command([MMAR_CLI, "train", str(workspace.mmar), "--set", *words], env=dict(env or {}), probe_file=workspace.probe_file(label),
                   expect_file=out / "final_model.pt", clear=(out,), manifest=out / "run_manifest.json")


def handwritten_command(workspace: Workspace, sizes: Sizes, label: str = "handwritten") -> Command:
    """``bench/handwritten_spleen.py`` on the same data and sizes."""
    data = workspace.data(sizes.train_cases)
    out = workspace.output_dir(label)
    argv = [PYTHON, str(HANDWRITTEN), "--data-root", str(data), "--datalist", str(data / "dataset.json"),
            "--output-dir", str(out), *sizes.handwritten_args()]
    return Command(argv, probe_file=workspace.probe_file(label), expect_file=out / "final_model.pt", clear=(out,))


def monai_bundle_command(workspace: Workspace, sizes: Sizes, label: str = "monai_bundle") -> Command:
    """``python -m monai.bundle run`` on ``bench/monai_bundle`` (the probe imported from bench/)."""
    data = workspace.data(sizes.train_cases)
    out = workspace.output_dir(label)
    pythonpath = os.pathsep.join(p for p in (str(BENCH), os.environ.get("PYTHONPATH", "")) if p)
    argv = [
        *bundle_launcher(), "run",
        "--config_file", str(BUNDLE_DIR / "configs" / "train.json"),
        "--meta_file", str(BUNDLE_DIR / "configs" / "metadata.json"),
        "--bundle_root", str(BUNDLE_DIR),
        "--dataset_dir", str(data),
        "--datalist", str(data / "dataset.json"),
        "--output_dir", str(out),
        *sizes.bundle_overrides(),
    ]
    return Command(argv, env={"PYTHONPATH": pythonpath}, probe_file=workspace.probe_file(label),
                   expect_file=out / "final_model.pt", clear=(out,))


def mmar_bundle_command(workspace: Workspace, sizes: Sizes, label: str = "mmar_bundle") -> Command:
    """``mmar train`` on the same MONAI bundle, data and overrides as :func:`monai_bundle_command`."""
    data = workspace.data(sizes.train_cases)
    out = workspace.output_dir(label)
    pythonpath = os.pathsep.join(p for p in (str(BENCH), os.environ.get("PYTHONPATH", "")) if p)
    words = [f"dataset_dir={data}", f"datalist={data / 'dataset.json'}", f"output_dir={out}", *sizes.bundle_set_words()]
    return Command([MMAR_CLI, "train", str(BUNDLE_DIR), "--no-progress", "--set", *words], env={"PYTHONPATH": pythonpath},
                   probe_file=workspace.probe_file(label), expect_file=out / "final_model.pt", clear=(out,),
                   manifest=out / "run_manifest.json")


def check_command(workspace: Workspace, sizes: Sizes) -> Command:
    """``mmar check`` on the same copy and data: validation only, nothing trained."""
    data = workspace.data(sizes.train_cases)
    return Command([MMAR_CLI, "check", str(workspace.mmar), "--set", f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset.json'}"])
