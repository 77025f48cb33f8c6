"""A real Docker engine, a Debian base image and a wheelhouse: what the image tests and bench/bench_image.py need.

Setup, once per session, each step reused when already done:
1. an engine: DOCKER_HOST if it answers; else Debian's docker.io is installed (apt-get, as root)
   and a private dockerd is started on a socket under ~/.cache/mmar-runner (no bridge, no iptables);
2. a base image: Debian bookworm with Python, made by debootstrap and ``docker import`` (trixie too,
   for bench/bench_image.py: Python 3.13);
3. a wheelhouse: the CPU lock's wheels, downloaded on the host with their hashes checked;
4. the runtime stage, built air-gapped from those.
The tests are skipped, with the reason, only where no engine can be started (no root, no apt, no
dockerd). The private daemon is stopped at the end of the session; its image store stays, so a
second session reuses the built layers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from runner.image.build import CPU_LOCK

CACHE = Path(os.environ.get("MMAR_TEST_CACHE", Path.home() / ".cache" / "mmar-runner"))
SOCKET = CACHE / "dockerd" / "docker.sock"
BASE_TAG = "mmar-test/debian-python:bookworm"
BASE_PYTHONS = {"bookworm": "3.11", "trixie": "3.13"}  # Debian's python3 in each suite
RUNTIME_TAG = "mmar-test/runtime:cpu"
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates"


def _engine_answers(host: str) -> bool:
    done = subprocess.run(["docker", "-H", host, "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, text=True, timeout=30) if shutil.which("docker") else None
    return bool(done and done.returncode == 0)


def _install_engine() -> str | None:
    """Debian's docker.io and debootstrap; None when done, else why not."""
    if shutil.which("dockerd") and shutil.which("debootstrap") and shutil.which("docker"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "no Docker engine, and installing one needs root and apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "docker.io", "debootstrap"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
    return None


def _start_daemon() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    folder = SOCKET.parent
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "dockerd.log", "ab")  # noqa: SIM115 - the daemon writes to it for the whole session
    for driver in ("overlay2", "vfs"):
        SOCKET.unlink(missing_ok=True)
        daemon = subprocess.Popen(
            ["dockerd", "--data-root", str(folder / f"root-{driver}"), "--exec-root", str(folder / "exec"),
             "-H", f"unix://{SOCKET}", "--pidfile", str(folder / "dockerd.pid"), "--iptables=false", "--ip6tables=false",
             "--bridge=none", f"--storage-driver={driver}"], stdout=log, stderr=log)
        for _ in range(60):
            if daemon.poll() is not None:
                break
            if SOCKET.exists() and _engine_answers(f"unix://{SOCKET}"):
                return daemon, None
            time.sleep(0.5)
        daemon.terminate()
        daemon.wait(timeout=30)
    return None, f"dockerd did not start (see {folder / 'dockerd.log'})"


def docker(host: str, *args: str, check: bool = True, timeout: int = 600, text: bool = True,
           **kwargs: object) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    done = subprocess.run(["docker", "-H", host, *args], capture_output=True, text=text, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}... failed: {str(done.stderr)[-3000:]}")
    return done


def start_engine() -> tuple[str | None, subprocess.Popen[bytes] | None, str | None]:
    """(address, daemon we started or None, why not) for a running engine."""
    existing = os.environ.get("DOCKER_HOST")
    if existing and _engine_answers(existing):
        return existing, None, None
    why = _install_engine()
    if why:
        return None, None, why
    daemon, why = _start_daemon()
    return (f"unix://{SOCKET}", daemon, None) if daemon else (None, None, why or "dockerd did not start")


def stop_engine(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is None:
        return
    daemon.terminate()
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()


def ensure_base_image(host: str, suite: str = "bookworm") -> str:
    """Debian ``suite`` with its Python (bookworm 3.11, which the CPU lock covers; trixie 3.13), from Debian's own packages."""
    tag = BASE_TAG.replace(":bookworm", f":{suite}")
    if docker(host, "image", "inspect", tag, check=False).returncode == 0:
        return tag
    rootfs = CACHE / f"rootfs-{suite}"
    shutil.rmtree(rootfs, ignore_errors=True)
    done = subprocess.run(["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}", suite, str(rootfs),
                           "http://deb.debian.org/debian"], capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap {suite} failed: {done.stderr[-2000:]}")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    docker(host, "import", "-", tag, stdin=tar.stdout)
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    return tag


def ensure_wheelhouse() -> Path:
    """Every wheel of the CPU lock for this Python (3.11, the bookworm base's), downloaded on the host with hashes checked."""
    folder = CACHE / "wheelhouse"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--require-hashes",
                           "-r", str(CPU_LOCK), "-d", str(folder)], capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"pip download of the lock failed: {done.stderr[-2000:]}")
    return folder
