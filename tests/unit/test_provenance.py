"""Which run wrote a checkpoint: looked up by the file's bytes in the manifests beside it (runner.workflow.provenance)."""

from __future__ import annotations

import json
from pathlib import Path

from runner.manifest import file_digest
from runner.workflow.provenance import checkpoint_origin, report_checkpoint


def write_manifest(path: Path, started_at: str, digests: dict[str, str], status: str = "completed") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": "train", "started_at": started_at, "status": status, "output_digests": digests}))


def test_a_checkpoint_is_traced_to_the_history_manifest_of_the_run_that_wrote_it(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights of the first run")
    write_manifest(tmp_path / "history" / "run_manifest.20261201T040000000000Z.json", "2026-12-01T04:00:00+00:00",
                   {"/out/model.pt": file_digest(model)})
    write_manifest(tmp_path / "run_manifest.json", "2026-12-01T05:00:00+00:00", {"/out/final_model.pt": "sha256:other"}, "failed")
    origin = checkpoint_origin(model)
    assert origin.manifest == tmp_path / "history" / "run_manifest.20261201T040000000000Z.json"
    assert origin.render() == (f"checkpoint {model}: written by the train run started 2026-12-01T04:00:00+00:00 "
                               f"({origin.manifest})")


def test_a_file_no_recorded_run_wrote_is_said_to_be_so(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"copied in by hand")
    write_manifest(tmp_path / "run_manifest.json", "2026-12-01T05:00:00+00:00", {str(model): "sha256:" + "0" * 64})
    origin = report_checkpoint(model)
    assert origin is not None and origin["written_by"] is None and origin["sha256"] == file_digest(model)
    assert "no run recorded in" in checkpoint_origin(model).render()


def test_a_missing_checkpoint_has_no_origin(tmp_path: Path) -> None:
    assert report_checkpoint(tmp_path / "absent.pt") is None
