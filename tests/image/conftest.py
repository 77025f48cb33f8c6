"""Session fixtures for the image tests: an engine, a base image, a wheelhouse, the runtime stage.

See tests/image/engine.py for how each is made. The tests are skipped, with the reason, only where
no engine can be started (no root, no apt-get, dockerd fails); CI, as root with apt, runs them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.engine import RUNTIME_TAG, ensure_base_image, ensure_wheelhouse, start_engine, stop_engine


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """The address of a running engine, also put in DOCKER_HOST for the SDK and the CLI."""
    before = os.environ.get("DOCKER_HOST")
    host, daemon, why = start_engine()
    if host is None:
        pytest.skip(f"no Docker engine: {why}")
    os.environ["DOCKER_HOST"] = host
    try:
        yield host
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        stop_engine(daemon)


@pytest.fixture(scope="session")
def base_image(docker_host: str) -> str:
    return ensure_base_image(docker_host)


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    return ensure_wheelhouse()


@pytest.fixture(scope="session")
def runtime_image(docker_host: str, base_image: str, wheelhouse: Path) -> str:
    from runner.image.build import BuildRequest, build_image

    result = build_image(BuildRequest(None, RUNTIME_TAG, base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    assert result.air_gapped
    return RUNTIME_TAG


SPLEEN_TAG = "mmar-test/spleen:test"


@pytest.fixture(scope="session")
def spleen_image(runtime_image: str, base_image: str, wheelhouse: Path) -> str:
    """The demo bundle's image (CPU flavour, air-gapped), shared by the tests that run it."""
    from runner.image.build import BuildRequest, build_image
    from tests.conftest import DEMO_BUNDLE

    build_image(BuildRequest(DEMO_BUNDLE, SPLEEN_TAG, base_image, wheelhouse, flavour="cpu"), progress=lambda line: None)
    return SPLEEN_TAG


@pytest.fixture(scope="session")
def data(synthetic_data: Path) -> Path:
    """The session's synthetic data, readable by the container's user (pytest makes its folders 0700)."""
    for folder in [synthetic_data, *(p for p in synthetic_data.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    return synthetic_data
