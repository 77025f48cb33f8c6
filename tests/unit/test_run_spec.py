"""One run description, rendered for torchrun, the image, Kubernetes, verify and the reproduce command.

The round trips are what keep the renderers honest: what a renderer writes, the CLI parses back
into the same :class:`RunSpec`, so an option added to one side and forgotten on the other fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import runner.cli as cli
from runner.argv import expand_set_words
from runner.container import container_argv
from runner.run_spec import (
    NodeLayout,
    RunSpec,
    image_args,
    mmar_argv,
    reproduce_argv,
    reproduce_command,
    torchrun_argv,
    worker_argv,
)
from runner.tracking.options import TrackingOptions, tracking_options
from tests.k8s_pod import expand

FULL = RunSpec("train", "/m", "config/c.json", "config/env.json", ("epochs=2", "size=[1, 2]"), 4,
               NodeLayout(2, 1, "node0.example", 29555), progress=False, fresh=True, lock_wait_s=90.0, max_iterations=7)


def parsed(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> RunSpec:
    """What ``mmar ARGV`` hands to the training code."""
    from typer.testing import CliRunner

    seen: list[RunSpec] = []
    monkeypatch.setenv("MMAR_DATA_CACHE", "off")  # the data cache comes from the environment, not from argv
    monkeypatch.setattr(cli, "_train", lambda spec, verbose: seen.append(spec))
    result = CliRunner().invoke(cli.app, expand_set_words(argv), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


@pytest.mark.parametrize("spec", [
    FULL,
    RunSpec("train", "/m"),
    RunSpec("train", "/m", sets=("a=1",), processes=2),
    RunSpec("finetune", "/m", sets=("MMAR_CKPT=/x/model.pt",), lock_wait_s=5.0),
    RunSpec("train", "/m", processes=2, tracking=TrackingOptions("mlflow", "http://mlflow:5000", "exp", "0" * 32)),
])
def test_the_cli_parses_what_mmar_argv_renders(spec: RunSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MMAR_TRACKING", "MMAR_IMAGE"):
        monkeypatch.delenv(name, raising=False)
    assert parsed(mmar_argv(spec), monkeypatch) == spec


def test_a_worker_runs_the_same_run_without_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = parsed(worker_argv(FULL), monkeypatch)
    assert worker == RunSpec("train", "/m", "config/c.json", "config/env.json", FULL.sets, progress=False, fresh=True,
                             lock_wait_s=90.0, max_iterations=7)


def test_torchrun_gets_the_node_layout_and_the_worker_command() -> None:
    words = torchrun_argv(FULL, "/py", local_port=1234)
    assert words[:8] == ["/py", "-m", "torch.distributed.run", "--nproc-per-node=4", "--nnodes=2", "--node-rank=1",
                         "--master-addr=node0.example", "--master-port=29555"]
    assert words[8:11] == ["-m", "runner", "train"] and words[11:] == worker_argv(FULL)[1:]
    one_node = torchrun_argv(RunSpec("train", "/m", processes=2), "/py", local_port=1234)
    assert "--master-addr=127.0.0.1" in one_node and "--master-port=1234" in one_node


def test_image_args_become_the_same_run_inside_the_image(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A pod's args go through the image's entry point (MMAR and /out defaults added) to the same run."""
    spec = RunSpec("train", "/opt/mmar", sets=("epochs=3",), processes=1, nodes=NodeLayout(2, "$(JOB_COMPLETION_INDEX)", "j-0.s"))
    args = image_args(spec)
    assert args[0] == "train" and "/opt/mmar" not in args and "$(JOB_COMPLETION_INDEX)" in args
    args = [expand(word, {"JOB_COMPLETION_INDEX": "1"}) for word in args]  # as the kubelet does
    inside = parsed(container_argv(args, mmar=Path("/opt/mmar"), out=Path("/out"), data=tmp_path), monkeypatch)
    assert inside.nodes == NodeLayout(2, 1, "j-0.s") and inside.processes == 1 and inside.mmar == "/opt/mmar"
    assert inside.sets[-1] == "epochs=3" and "MMAR_CKPT_DIR=/out" in inside.sets  # the user's word comes last and wins


def test_reproduce_pins_the_seed_keeps_the_sets_and_runs_every_process_on_one_host(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = RunSpec("train", "/m", "c.json", sets=("epochs=2", "determinism.random_seed=3"), processes=1,
                   nodes=NodeLayout(2, 1, "n0"), progress=False, fresh=True, lock_wait_s=9.0)
    assert reproduce_command(spec, seed=9, world_size=2) == (
        "mmar train /m -c c.json --nproc 2 --set epochs=2 determinism.random_seed=9")
    again = parsed(reproduce_argv(spec, 9, 2)[1:], monkeypatch)
    assert again.processes == 2 and again.nodes == NodeLayout() and again.sets == ("epochs=2", "determinism.random_seed=9")


def test_finetune_loads_the_checkpoint_and_says_so_once() -> None:
    spec = RunSpec("finetune", "/m", sets=("epochs=1",))
    assert spec.config_sets == ("dont_load_ckpt_model=False", "epochs=1")
    assert reproduce_command(spec, 0) == "mmar finetune /m --set epochs=1 determinism.random_seed=0"


def test_pod_references_expand_as_the_kubelet_expands_them() -> None:
    env = {"JOB_COMPLETION_INDEX": "3"}
    assert expand("$(JOB_COMPLETION_INDEX)", env) == "3"
    assert expand("$$(JOB_COMPLETION_INDEX)", env) == "$(JOB_COMPLETION_INDEX)"
    assert expand("$(UNKNOWN)-x", env) == "$(UNKNOWN)-x"


def test_tracking_is_asked_for_by_kind_or_uri_and_never_reproduced() -> None:
    assert not tracking_options(None, None, None).enabled
    assert tracking_options(None, "http://m:5000", None) == TrackingOptions("mlflow", "http://m:5000")
    assert not tracking_options("none", "http://m:5000", None).enabled, "--tracking none wins over MLFLOW_TRACKING_URI"
    from runner.errors import MmarRunnerError

    with pytest.raises(MmarRunnerError, match="needs a tracking server"):
        tracking_options("mlflow", None, None)
    with pytest.raises(MmarRunnerError, match="not a tracking kind"):
        tracking_options("wandb", "http://m:5000", None)
    tracked = RunSpec("train", "/m", tracking=TrackingOptions("mlflow", "http://m:5000"))
    assert "--tracking" in worker_argv(tracked) and "--tracking" not in reproduce_command(tracked, 0)
