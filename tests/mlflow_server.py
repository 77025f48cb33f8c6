"""A real MLflow tracking server for the tracking tests: sqlite backend, local artifact store, on loopback.

Started once per session by the test setup (MLflow is a dev dependency, so ``make test`` installs it);
read back through MLflow's own client. A test that needs to kill a server starts its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` on a free loopback port, answering /health; (process, URI)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - the server writes to it while it runs
    process = subprocess.Popen([str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                                "--artifacts-destination", str(folder / "artifacts")], stdout=log, stderr=log,
                               start_new_session=True)  # its own process group: the server's workers go with it
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.status == 200:
                    return process, uri
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"mlflow server did not answer within 120 s: {(folder / 'server.log').read_text()[-2000:]}")


def stop_server(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop the server and its workers (the whole process group); SIGKILL is a server that just goes away."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, uri = start_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield uri
    finally:
        stop_server(process)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], str]]]:
    """Start a server of this test's own (to kill it); stopped afterwards if still running."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], str]:
        process, uri = start_server(tmp_path / f"mlflow-{len(started)}")
        started.append(process)
        return process, uri

    yield start
    for process in started:
        if process.poll() is None:
            stop_server(process)
