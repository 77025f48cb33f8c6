"""Data never becomes code: each attack of issue 14, reproduced, fails safely (no marker file, exit code, message).

The trust model (docs/SECURITY.md): the MMAR (config and custom/) is code; --set values, the
output folder (resume checkpoints, models) and everything else are data. Each test plants an
attack that would create a marker file if anything in it ran, and asserts the marker is absent.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.cli_helpers import invoke
from tests.conftest import DEMO_BUNDLE, TINY_SET
from tests.integration.test_bad_input import assert_bad_input

pytestmark = pytest.mark.slow


class Payload:
    """What an attacker pickles: unpickling it runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_dropped_in_the_resume_folder_never_runs(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """Attack: a file in the output folder. The resume loader reads checkpoints with weights_only=True."""
    marker = tmp_path / "pwned"
    root = make_mmar()
    resume = root / "models" / "resume"
    resume.mkdir(parents=True)
    torch.save({"format": "mmar-resume/2", "config_digest": "x", "model": Payload(marker)}, resume / "ckpt-000000099.pt")
    with open(resume / "ckpt-000000098.pt", "wb") as raw:  # a bare pickle, not even a torch file
        pickle.dump(Payload(marker), raw)
    result = invoke("train", str(root), "--set", *TINY_SET)
    assert not marker.exists(), "the pickle ran"
    assert_bad_input(result, f"{resume / 'ckpt-000000099.pt'} holds objects that are not plain data", "nothing in it ran")


def test_a_checkpoint_naming_code_in_its_train_conf_is_not_obeyed(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """Attack: a models/model.pt whose train_conf says the network is os.system. The MMAR's config decides."""
    marker = tmp_path / "pwned"
    root = make_mmar()
    assert invoke("train", str(root), "--set", *TINY_SET).exit_code == 0
    checkpoint = torch.load(root / "models" / "model.pt", weights_only=True)
    trained_args = checkpoint["train_conf"]["train"]["model"]["args"]
    checkpoint["train_conf"]["train"]["model"] = {"path": "os.system", "args": {"command": f"touch {marker}"}}
    torch.save(checkpoint, root / "models" / "model.pt")
    exported = invoke("export", str(root), "--set", *TINY_SET)
    assert not marker.exists(), "the checkpoint chose what to call"
    assert exported.exit_code == 0, exported.stderr[-2000:]
    assert "the checkpoint was trained with train.model" in exported.stderr

    # The same class, with code where plain arguments belong: the values are data, like --set values.
    model = checkpoint["train_conf"]["train"]["model"] = {"name": "UNet", "args": dict(trained_args)}
    model["args"]["act"] = f"#__import__('pathlib').Path('{marker}').touch()"
    model["args"]["norm"] = {"path": "pathlib.Path.touch", "args": {"self": str(marker)}}
    torch.save(checkpoint, root / "models" / "model.pt")
    exported = invoke("export", str(root), "--set", *TINY_SET)
    assert not marker.exists(), "an argument value in the checkpoint ran"
    assert_bad_input(exported, "config/config_train.json: train.model (arguments as the checkpoint was trained): UNet(...) raised ValueError")


@pytest.mark.parametrize("value", ["#__import__('pathlib').Path('{marker}').touch()", "lambda: __import__('pathlib').Path('{marker}').touch()",
                                   "@model"], ids=["expression", "lambda", "reference"])
@pytest.mark.parametrize(("variable", "refused_by"), [("learning_rate", "learning_rate: expected a number"),  # a typed global
                                                      ("cache_rate", "train.dataset: CacheDataset(...) raised")])  # a user variable
def test_set_values_are_literals(make_mmar: Callable[..., Path], tmp_path: Path, value: str, variable: str, refused_by: str) -> None:
    """Attack: one --set word. The value stays text wherever it is substituted, so it fails as the wrong type of data."""
    marker = tmp_path / "pwned"
    root = make_mmar()
    result = invoke("train", str(root), "--set", *TINY_SET, f"{variable}={value.format(marker=marker)}")
    assert not marker.exists(), "a --set value ran"
    assert_bad_input(result, refused_by)


def test_set_values_inside_the_configs_own_expression_go_in_quoted(make_mmar: Callable[..., Path], tmp_path: Path) -> None:
    """The MMAR's own expression may use a variable; a --set value arrives in it as a string literal, not as code."""
    marker = tmp_path / "pwned"

    def edit(config: dict[str, Any]) -> None:
        config["tag"] = "x"
        config["train"]["handlers"].append({"name": "StatsHandler", "args": {"name": "#'run-' + str({tag})"}})

    root = make_mmar(edit=edit)
    payload = f"__import__('pathlib').Path('{marker}').touch()"
    result = invoke("train", str(root), "--set", *TINY_SET, "epochs=1", f"tag={payload}")
    assert result.exit_code == 0, result.stderr[-2000:]
    from runner.config.load import load_train_config

    handler = load_train_config(root, overrides=[f"tag={payload}"]).model.train.handlers[-1]
    assert handler.args["name"] == f"#'run-' + str({payload!r})"
    assert not marker.exists()


def test_the_image_entry_point_and_k8s_pass_set_words_as_literals(tmp_path: Path) -> None:
    """`docker run IMAGE --set` and `mmar k8s --set` reach the same CLI: the words are passed on, unevaluated."""
    from runner.container import container_argv
    from runner.k8s import K8sRequest, render

    word = "learning_rate=#__import__('os').system('id')"
    assert container_argv(["--set", word], tmp_path, tmp_path / "out", tmp_path / "data")[-1] == word
    [job] = render(K8sRequest("m", "registry.example/m:1", 1, 0, set_words=(word,)))
    assert job.spec.template.spec.containers[0].args[-1] == word


def test_commands_scripts_pass_their_words_on_as_literals(tmp_path: Path) -> None:
    """commands/train.sh KEY=VALUE words become --set words: an expression there is text, as on the CLI."""
    marker = tmp_path / "pwned"
    root = tmp_path / "spleen"
    shutil.copytree(DEMO_BUNDLE, root, ignore=shutil.ignore_patterns("data", "models", "eval"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(root / "commands" / "train.sh"), f"learning_rate=#__import__('pathlib').Path('{marker}').touch()"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "learning_rate: expected a number, got" in done.stderr
    assert not marker.exists(), "a word given to commands/train.sh ran"


@pytest.mark.parametrize("impostor", ["json.py", "monai.py", "numpy/__init__.py"])
def test_custom_code_cannot_hide_behind_a_stdlib_or_dependency_name(make_mmar: Callable[..., Path], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch, impostor: str) -> None:
    marker = tmp_path / "pwned"
    root = make_mmar(custom={impostor: f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"})
    name = impostor.split("/")[0].removesuffix(".py")
    shown = "custom/" + (impostor if "/" not in impostor else impostor.split("/")[0])
    for command in ("check", "train"):
        result = invoke(command, str(root), "--set", *TINY_SET)
        assert_bad_input(result, f"{shown}: custom code named {name} would hide the")
    # Nor can it reach an image or a cluster: refused before any engine is asked (this one does not exist).
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert_bad_input(invoke("build", str(root), "-t", "impostor:1"), f"{shown}: custom code named {name} would hide the")
    assert_bad_input(invoke("k8s", str(root), "--image", "registry.example/m:1", "--out-pvc", "out", "--data-pvc", "data"),
                     f"{shown}: custom code named {name} would hide the")
    assert not marker.exists(), "the impostor was imported"


def test_the_shadow_check_holds_in_commands_scripts(tmp_path: Path, synthetic_data: Path) -> None:
    """A Clara set_env.sh puts custom/ on PYTHONPATH, ahead of the standard library: mmar takes it off at
    entry, so custom/json.py never stands in for json, and still refuses the MMAR naming the file."""
    marker = tmp_path / "pwned"
    root = tmp_path / "spleen"
    shutil.copytree(DEMO_BUNDLE, root, ignore=shutil.ignore_patterns("data", "models", "eval"))
    with (root / "commands" / "set_env.sh").open("a") as script:
        script.write('export PYTHONPATH="${PYTHONPATH:-}:/opt/nvidia:$MMAR_ROOT/custom"\n')
    (root / "custom").mkdir(exist_ok=True)
    (root / "custom" / "json.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(root / "commands" / "train.sh"), f"DATA_ROOT={synthetic_data}",
                           f"DATASET_JSON={synthetic_data / 'dataset.json'}"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "custom/json.py: custom code named json would hide the standard-library module json" in done.stderr
    assert f"{root / 'custom'} left PYTHONPATH" in done.stderr
    assert not marker.exists(), "custom/json.py was imported in place of the standard library's json"


def test_weights_only_false_for_a_cache_in_the_outputs_is_refused(make_mmar: Callable[..., Path]) -> None:
    def edit(config: dict[str, Any]) -> None:
        dataset = config["train"]["dataset"]
        dataset["name"] = "PersistentDataset"
        dataset["args"] = {"transform": "@pre_transforms", "weights_only": False}

    root = make_mmar(edit=edit)
    assert_bad_input(invoke("check", str(root), "--set", *TINY_SET),
                     "train.dataset.args.weights_only: false would unpickle files from the output folder")


def test_every_torch_load_in_the_runner_is_weights_only() -> None:
    """Rule 1, for the code itself: no torch.load without weights_only=True anywhere in runner/."""
    import re

    runner = Path(__file__).resolve().parents[2] / "runner"
    calls = [(p, line) for p in runner.rglob("*.py") for line in p.read_text().splitlines() if re.search(r"torch\.load\(", line)]
    assert calls and all("weights_only=True" in line for _, line in calls), [f"{p}: {line}" for p, line in calls]
