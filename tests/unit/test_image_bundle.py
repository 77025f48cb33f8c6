"""`mmar build BUNDLE` and `mmar k8s BUNDLE` without an engine: what is staged, the labels, the path words, the Job."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from runner.bundle.cli import refuse_bundle
from runner.bundle.load import load_bundle
from runner.bundle.overrides import apply_overrides, parse_overrides
from runner.container import container_argv, preflight
from runner.errors import BAD_INPUT_EXIT, MmarRunnerError
from runner.image.build import IMAGE_DIR, BuildRequest, _build_args, _stage_mmar
from runner.image.bundle_paths import command_configs, top_level_items
from runner.image.source import checked_source
from runner.k8s import K8sRequest, bundle_train_configs, from_yaml, render, to_yaml
from tests.cli_helpers import invoke
from tests.conftest import DEMO_BUNDLE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
OUT, DATA = Path("/out"), Path("/data")


def bundle_copy(tmp_path: Path, name: str = "seg3d_scripts") -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def set_words(argv: list[str]) -> list[str]:
    """Every word after each --set, in order (what the CLI gives runner.bundle.overrides)."""
    words, taking = [], False
    for word in argv:
        if word == "--set":
            taking = True
        elif word.startswith("-"):
            taking = False
        elif taking:
            words.append(word)
    return words


def test_a_bundle_is_staged_with_its_code_and_without_data_outputs_locks_or_secrets(tmp_path: Path) -> None:
    root = bundle_copy(tmp_path)
    train = root / "configs" / "train.json"
    config = json.loads(train.read_text())
    config["output_dir"] = "$@bundle_root + '/runs/eval'"  # a folder its configs write to, not models/ or eval/
    train.write_text(json.dumps(config, indent=1))
    for path in ("models/model.pt", "eval/metrics.csv", "runs/eval/x.nii.gz", "scripts/__pycache__/net.cpython-311.pyc",
                 "scripts/.mmar-run.lock", "docs/.mmar-reserve", ".env", "docs/README.md", "scripts/models/__init__.py"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    digest, staged = _stage_mmar(root, tmp_path / "context" / "mmar", allow_outside_links=False)
    left_out = dict(staged.left_out)
    assert left_out == {".env": "looks like a secret", "data": "data", "docs/.mmar-reserve": "run state", "eval": "outputs",
                        "models": "outputs", "runs": "outputs", "scripts/.mmar-run.lock": "run state",
                        "scripts/__pycache__": "cache"}
    context = tmp_path / "context" / "mmar"
    files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert files == ["configs/metadata.json", "configs/train.json", "docs/README.md", "scripts/__init__.py", "scripts/handlers.py",
                     "scripts/models/__init__.py", "scripts/net.py"], "scripts/ is code and goes in, scripts/models/ too"
    assert digest is not None and digest.startswith("sha256:")
    (root / "scripts" / "net.py").write_text((root / "scripts" / "net.py").read_text() + "\n# edited\n")
    assert _stage_mmar(root, tmp_path / "again" / "mmar", allow_outside_links=False)[0] != digest, "the digest is of the content"


def test_a_link_out_of_a_bundle_is_refused_naming_the_bundle(tmp_path: Path) -> None:
    root = bundle_copy(tmp_path, "cls2d")
    (root / "scripts").mkdir()
    (root / "scripts" / "notes.txt").symlink_to("/etc/hostname")
    with pytest.raises(MmarRunnerError) as refused:
        _stage_mmar(root, tmp_path / "context", allow_outside_links=False)
    assert refused.value.exit_code == BAD_INPUT_EXIT
    assert "scripts/notes.txt" in refused.value.render() and "outside the bundle" in refused.value.render()


def test_labels_come_from_metadata_with_the_folder_as_the_name_when_it_has_none(tmp_path: Path) -> None:
    plain = checked_source(FIXTURES / "seg3d_glob")
    assert (plain.format, plain.name, plain.version, plain.stage) == ("bundle", "seg3d_glob", "0.1.0", "monai-bundle")
    root = bundle_copy(tmp_path, "cls2d")
    metadata = json.loads((root / "configs" / "metadata.json").read_text())
    (root / "configs" / "metadata.json").write_text(json.dumps({**metadata, "name": "Chest X-ray classifier", "version": "1.2.3"}))
    named = checked_source(root)
    args = _build_args(BuildRequest(root, "reg.example/cls:1"), None, "sha256:abc", named)
    assert {k: args[k] for k in ("BUNDLE_NAME", "BUNDLE_VERSION", "BUNDLE_DIGEST", "IMAGE_REF")} == {
        "BUNDLE_NAME": "Chest X-ray classifier", "BUNDLE_VERSION": "1.2.3", "BUNDLE_DIGEST": "sha256:abc", "IMAGE_REF": "reg.example/cls:1"}
    assert "MMAR_NAME" not in args
    mmar = checked_source(DEMO_BUNDLE)
    assert (mmar.format, mmar.stage) == ("mmar", "bundle")
    mmar_args = _build_args(BuildRequest(DEMO_BUNDLE, "t:1"), None, "sha256:def", mmar)
    assert mmar_args["MMAR_NAME"] == "spleen_ct_seg" and mmar_args["MMAR_DIGEST"] == "sha256:def" and "BUNDLE_NAME" not in mmar_args


def test_the_dockerfile_gives_both_formats_the_same_baked_layer_and_their_own_labels() -> None:
    text = (IMAGE_DIR / "Dockerfile").read_text()
    assert (IMAGE_DIR.parents[1] / "Dockerfile").resolve().read_text() == text, "the root Dockerfile is the shipped one"
    stages = {name: parent for parent, name in re.findall(r"^FROM (\S+) AS (\S+)$", text, re.MULTILINE)}
    assert stages == {"bundle": "baked", "monai-bundle": "baked", "baked": "runtime", "runtime": "${BASE_IMAGE}", "build": "${BASE_IMAGE}"}
    sections = re.split(r"^FROM ", text, flags=re.MULTILINE)
    by_stage = {s.split("\n", 1)[0].split(" AS ")[1]: s for s in sections[1:]}
    assert "COPY mmar/ /opt/mmar/" in by_stage["baked"] and "ENTRYPOINT" in by_stage["baked"]
    for stage in ("bundle", "monai-bundle"):
        assert "COPY" not in by_stage[stage] and "RUN" not in by_stage[stage], "one file-system layer per image, in baked"
    assert 'io.mmar-runner.format="bundle"' in by_stage["monai-bundle"] and 'io.mmar-runner.format="mmar"' in by_stage["bundle"]
    for label in ("bundle.name", "bundle.version", "bundle.digest"):
        assert f"io.mmar-runner.{label}=" in by_stage["monai-bundle"]
    assert sections[-1].startswith("baked AS bundle"), "plain docker build still builds an MMAR's image"


@pytest.mark.parametrize(("name", "expected"), [
    ("seg3d_glob", ["ckpt_dir=/out", "output_dir=/out/eval", "dataset_dir=/data"]),
    ("seg3d_scripts", ["ckpt_dir=/out", "output_dir=/out/eval", "dataset_dir=/data"]),
    ("cls2d", ["ckpt_dir=/out", "dataset_dir=/data"]),
    ("seg3d_datalist", ["ckpt_dir=/out", "output_dir=/out/eval", "data_file_base_dir=/data", "data_list_file_path=/data/dataset.json"]),
])
def test_the_entry_point_points_the_bundles_own_ids_at_the_mounts(tmp_path: Path, name: str, expected: list[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / name / "data", data)
    argv = container_argv(["--set", "train#trainer#max_epochs=1"], FIXTURES / name, OUT, data)
    assert argv[:3] == ["train", str(FIXTURES / name), "--no-progress"]
    assert set_words(argv) == [w.replace("=/data", f"={data}") for w in expected] + ["train#trainer#max_epochs=1"]
    # every id exists in the bundle (MONAI's parser would take an unknown one; ours refuses it with exit 2)
    bundle = load_bundle(FIXTURES / name, command_configs(FIXTURES / name, "train", []), FIXTURES / name / "configs" / "metadata.json",
                         parse_overrides(set_words(argv)))
    assert bundle.config["ckpt_dir"] == "/out"


def test_without_data_mounted_only_outputs_move_and_an_empty_data_folder_counts_as_none(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    for data in (empty, tmp_path / "absent"):
        assert set_words(container_argv([], FIXTURES / "seg3d_glob", OUT, data)) == ["ckpt_dir=/out", "output_dir=/out/eval"]


def test_each_command_maps_the_ids_of_the_configs_it_reads() -> None:
    root = FIXTURES / "seg3d_glob"
    infer = container_argv(["infer"], root, OUT, Path("/absent"))
    assert infer[:2] == ["infer", str(root)] and set_words(infer) == ["output_dir=/out"], "inference.json has no ckpt_dir"
    validate = container_argv(["validate"], root, OUT, Path("/absent"))
    assert set_words(validate) == ["ckpt_dir=/out", "output_dir=/out/eval"], "evaluate.json loads @ckpt_dir + '/model.pt'"
    chosen = container_argv(["infer", "-c", "configs/train.json"], root, OUT, Path("/absent"))
    assert set_words(chosen) == ["ckpt_dir=/out", "output_dir=/out/eval"] and chosen[-2:] == ["-c", "configs/train.json"]


def test_a_host_path_dataset_dir_becomes_data_and_the_users_set_wins(tmp_path: Path) -> None:
    root = bundle_copy(tmp_path, "seg3d_glob")
    train = root / "configs" / "train.json"
    config = json.loads(train.read_text())
    config["dataset_dir"] = "/workspace/data/Task09_Spleen"  # as zoo bundles ship it
    train.write_text(json.dumps(config))
    data = tmp_path / "mounted"
    shutil.copytree(FIXTURES / "seg3d_glob" / "data", data)
    argv = container_argv(["--set", "ckpt_dir=/out/mine", "dataset_dir=/data/other"], root, OUT, data)
    words = set_words(argv)
    assert words == ["ckpt_dir=/out", "output_dir=/out/eval", f"dataset_dir={data}", "ckpt_dir=/out/mine", "dataset_dir=/data/other"]
    items = top_level_items([train])
    apply_overrides(items, parse_overrides(words))
    assert items["ckpt_dir"] == "/out/mine" and items["dataset_dir"] == "/data/other", "a later --set wins"


def test_a_datalist_outside_the_bundles_data_folder_is_left_as_the_bundle_says(tmp_path: Path) -> None:
    root = bundle_copy(tmp_path, "seg3d_datalist")
    train = root / "configs" / "train.json"
    config = json.loads(train.read_text())
    config["data_list_file_path"] = "$@bundle_root + '/configs/datalist.json'"  # baked into the image with configs/
    train.write_text(json.dumps(config))
    data = tmp_path / "mounted"
    shutil.copytree(FIXTURES / "seg3d_datalist" / "data", data)
    assert set_words(container_argv([], root, OUT, data)) == ["ckpt_dir=/out", "output_dir=/out/eval", f"data_file_base_dir={data}"]


def test_the_host_check_of_a_bundle_does_not_read_it_as_an_mmar() -> None:
    preflight(["train", str(FIXTURES / "seg3d_glob"), "--set", "ckpt_dir=/out"])  # this torch: CPU or no GPU; no exception


BUNDLE_JOB = K8sRequest("seg3d_glob", "registry.example/seg3d:0.1.0", 1, 1, "seg-data", "seg-out", source_format="bundle",
                        version="0.1.0")


def test_a_bundles_job_is_the_mmars_job_with_the_bundles_labels() -> None:
    [job] = from_yaml(to_yaml(render(BUNDLE_JOB)))
    assert job.metadata.name == "mmar-seg3d-glob"
    assert job.metadata.labels == {"app.kubernetes.io/name": "mmar-runner", "app.kubernetes.io/instance": "mmar-seg3d-glob",
                                   "mmar-runner/format": "bundle", "mmar-runner/bundle": "seg3d_glob",
                                   "mmar-runner/bundle-version": "0.1.0"}
    assert job.spec.template.metadata.labels == job.metadata.labels
    assert job.metadata.annotations == {"mmar-runner/bundle-name": "seg3d_glob"}
    container = job.spec.template.spec.containers[0]
    assert container.args == ["train"] and container.security_context.read_only_root_filesystem
    mmar_job = from_yaml(to_yaml(render(K8sRequest("seg3d_glob", "registry.example/seg3d:0.1.0", 1, 1, "seg-data", "seg-out"))))[0]
    assert mmar_job.spec.template.spec == job.spec.template.spec, "the pod is the same; only labels and annotations differ"


def test_more_than_one_process_trains_with_multi_gpu_train_json_or_is_refused() -> None:
    assert bundle_train_configs(FIXTURES / "seg3d_glob", 1, 1) is None and bundle_train_configs(FIXTURES / "cls2d", 1, 0) is None
    both = "configs/train.json,configs/multi_gpu_train.json"
    assert bundle_train_configs(FIXTURES / "seg3d_glob", 1, 2) == both == bundle_train_configs(FIXTURES / "seg3d_glob", 2, 0)
    service, job = from_yaml(to_yaml(render(K8sRequest("seg3d_glob", "registry.example/seg3d:0.1.0", 2, 4, source_format="bundle",
                                                       version="0.1.0", config=both))))
    args = job.spec.template.spec.containers[0].args
    assert args[:3] == ["train", "-c", both] and "--nproc" in args and args[args.index("--nproc") + 1] == "4"
    assert service.metadata.labels["mmar-runner/format"] == "bundle"
    for nodes, gpus in ((1, 2), (2, 1), (3, 0)):
        with pytest.raises(MmarRunnerError) as refused:
            bundle_train_configs(FIXTURES / "cls2d", nodes, gpus)
        assert refused.value.exit_code == BAD_INPUT_EXIT and "configs/multi_gpu_train.json" in refused.value.message


def test_mmar_k8s_takes_a_bundle_and_refuses_one_without_its_multi_gpu_config() -> None:
    done = invoke("k8s", str(FIXTURES / "seg3d_glob"), "--image", "registry.example/seg3d:0.1.0", "--gpus-per-node", "2",
                  "--out-pvc", "out", "--data-pvc", "data")
    assert done.exit_code == 0, done.stderr
    [job] = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Job"]
    assert job["metadata"]["labels"]["mmar-runner/bundle-version"] == "0.1.0"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["train", "-c", "configs/train.json,configs/multi_gpu_train.json"]
    refused = invoke("k8s", str(FIXTURES / "cls2d"), "--image", "registry.example/cls:0.1.0", "--gpus-per-node", "2")
    assert refused.exit_code == 2 and "configs/multi_gpu_train.json" in refused.stderr and "Traceback" not in refused.stderr
    assert invoke("k8s", str(FIXTURES / "cls2d"), "--image", "registry.example/cls:0.1.0", "--out-pvc", "o").exit_code == 0


def test_mmar_build_refuses_a_broken_bundle_before_asking_an_engine(tmp_path: Path) -> None:
    root = tmp_path / "half"
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "train.json").write_text("{}")
    done = invoke("build", str(root), "-t", "t:1")
    assert done.exit_code == 2 and "configs/metadata.json" in done.stderr and "Docker engine" not in done.stderr


def test_finetune_export_and_migrate_refuse_a_bundle_naming_what_takes_one() -> None:
    with pytest.raises(MmarRunnerError) as refused:
        refuse_bundle(FIXTURES / "cls2d")
    assert refused.value.exit_code == BAD_INPUT_EXIT
    assert "check, train, verify, validate, infer, diff, show, build and k8s do" in refused.value.message
    refuse_bundle(DEMO_BUNDLE)  # an MMAR: nothing to refuse
