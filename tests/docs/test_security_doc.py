"""docs/SECURITY.md names, for each guarantee, a test that exists: the table cannot point at nothing."""

from __future__ import annotations

import re

from tests.docs.snippets import REPO

TEST_REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def test_every_test_the_security_page_names_exists() -> None:
    page = (REPO / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    named = TEST_REFERENCE.findall(page)
    assert len(named) >= 20, "the guarantee table lost its rows"
    missing = []
    for file, function in named:
        source = REPO / file
        if not source.is_file() or (function and not re.search(rf"^def {function}\(", source.read_text(), re.MULTILINE)):
            missing.append(f"{file}::{function}" if function else file)
    assert not missing, missing


def test_the_readme_links_the_security_page() -> None:
    assert "](docs/SECURITY.md)" in (REPO / "README.md").read_text(encoding="utf-8")
