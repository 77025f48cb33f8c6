"""`mmar schema` and `mmar synthetic-data` as a user runs them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.cli_helpers import invoke
from tests.conftest import DEMO_BUNDLE, run_cli


def test_schema_is_json_schema_that_describes_the_demo_config() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "train" in schema["required"]
    demo = json.loads((DEMO_BUNDLE / "config" / "config_train.json").read_text())
    assert set(demo) - {"train", "validate"} >= {"epochs", "determinism"}
    assert {"train", "validate", "epochs", "determinism"} <= set(schema["properties"])


def test_environment_schema() -> None:
    schema = json.loads(invoke("schema", "--environment").stdout)
    assert {"DATA_ROOT", "DATASET_JSON", "MMAR_CKPT_DIR"} <= set(schema["properties"])


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synthetic_data_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        result = invoke("synthetic-data", str(tmp_path / name), "--train-cases", "2", "--val-cases", "1",
                        "--size", "24,24,16", "--seed", seed)
        assert result.exit_code == 0, result.stderr
    first, again, other = digests(tmp_path / "a"), digests(tmp_path / "b"), digests(tmp_path / "c")
    assert first == again and len(first) == 11  # 5 images, 5 labels (2 test cases by default), dataset.json
    assert {k: v for k, v in first.items() if k != "dataset.json"} != {k: v for k, v in other.items() if k != "dataset.json"}
    listing = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert len(listing["training"]) == 2 and len(listing["validation"]) == 1 and len(listing["test"]) == 2
    assert all(set(case) == {"image"} for case in listing["test"])


def test_synthetic_data_rejects_a_bad_size(tmp_path: Path) -> None:
    result = invoke("synthetic-data", str(tmp_path / "x"), "--size", "8,8")
    assert result.exit_code == 2 and "--size" in result.stderr


def test_build_without_a_reachable_engine_is_one_clear_error(tmp_path: Path) -> None:
    done = run_cli("build", str(DEMO_BUNDLE), "-t", "x:1", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert done.returncode == 3, done.stderr
    assert f"no Docker engine reachable at unix://{tmp_path}/no.sock" in done.stderr and "Traceback" not in done.stderr
