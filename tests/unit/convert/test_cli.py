"""``mmar convert`` on the command line: bad input is exit 2 with one message, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import invoke

REPO = Path(__file__).resolve().parents[3]


def test_convert_needs_an_out_folder() -> None:
    result = invoke("convert", str(REPO / "bundles" / "spleen_ct_seg"))
    assert result.exit_code == 2 and "no --out given" in result.stderr and "Traceback" not in result.stderr


def test_a_folder_that_is_no_mmar_is_bad_input(tmp_path: Path) -> None:
    result = invoke("convert", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_convert_is_listed_in_the_help() -> None:
    result = invoke("--help")
    assert "convert" in result.stdout
