"""Fetch, here, the wheels the borrowed GPU machine lacks, so `make gpu-check` runs there with no network.

The GPU machine has Python 3.12, torch 2.11 (CUDA 13), numpy, scipy, scikit-image, tensorboard,
tqdm, rich and typer of its own, but not MONAI, pytorch-ignite, pydantic or nibabel. This script
downloads exactly those (and the few pure-Python packages they need at versions the machine may
not have) as cp312 / manylinux wheels into ``bench/gpu/wheels`` (git-ignored, carried to the
machine), pinned to ``runner/image/requirements-cpu.lock``. torch is never fetched: the run uses
the machine's own.

Verification: a pure-Python ``py3-none-any`` wheel is the same file for every Python, so it must
match a sha256 the lock gives for that version. A compiled cp312 wheel is checked against the
hashes of every lock in runner/image (``requirements-*.lock``; the CPU lock lists cp311 wheels only)
and, where none lists it, its sha256 is recorded as fetched. ``SHA256SUMS`` in the folder lists
every wheel and ``run.sh`` checks it on the machine before installing.

    .venv/bin/python bench/gpu/prepare.py [--dest bench/gpu/wheels]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "runner" / "image" / "requirements-cpu.lock"
LOCKS = REPO / "runner" / "image"  # every requirements-*.lock there vouches for the hashes it lists
DEST = Path(__file__).resolve().parent / "wheels"
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
CAP_BYTES = 64 * 1024 * 1024  # the device tool's limit for everything that travels
# What the runner imports at start that the machine lacks, or may have at a version our code was not tested with.
# The machine's own numpy, scipy, scikit-image, tensorboard, tqdm, rich, click, shellingham, annotated-doc and
# packaging are used as they are (numpy and the compiled libraries built against it must stay one set).
CARRIED = ("monai", "pytorch-ignite", "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
           "typing-extensions", "nibabel", "typer")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")

logger = logging.getLogger("gpu-prepare")


@dataclass(frozen=True)
class Pin:
    """One ``name==version --hash=sha256:... [--hash=...]`` line of a lock."""

    name: str
    version: str
    hashes: frozenset[str]


@dataclass(frozen=True)
class Fetched:
    """One downloaded wheel and how it was checked."""

    name: str
    version: str
    file: str
    size: int
    sha256: str
    checked_against_lock: bool


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, Pin]:
    """The lock's pins by normalised name, each with every hash its line lists."""
    pins: dict[str, Pin] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)\s+(--hash=sha256:[0-9a-f]{64}.*)$", line.strip())
        if match:
            hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", match[3]))
            pins[normalize(match[1])] = Pin(normalize(match[1]), match[2], hashes)
    return pins


def known_hashes(pins: dict[str, Pin], folder: Path = LOCKS) -> dict[str, frozenset[str]]:
    """Per pinned name: the hashes any lock in ``folder`` gives for the pinned version."""
    known = {name: set(pin.hashes) for name, pin in pins.items()}
    for path in sorted(folder.glob("requirements-*.lock")):
        for name, other in read_lock(path).items():
            if name in pins and other.version == pins[name].version:
                known[name] |= other.hashes
    return {name: frozenset(hashes) for name, hashes in known.items()}


def requirements(lock: dict[str, Pin]) -> list[str]:
    """``name==version`` of every carried package, as the lock pins it."""
    missing = [name for name in CARRIED if name not in lock]
    if missing:
        raise SystemExit(f"{LOCK}: no pin for {', '.join(missing)}")
    return [f"{name}=={lock[name].version}" for name in CARRIED]


def download(specs: list[str], dest: Path) -> None:
    """``pip download`` of exactly ``specs`` (no dependencies) as Python 3.12 manylinux wheels."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
            "--implementation", "cp", "--abi", "cp312", *[w for p in PLATFORMS for w in ("--platform", p)],
            "--dest", str(dest), *specs]
    logger.info("downloading %d wheels into %s", len(specs), dest)
    subprocess.run(argv, check=True)


def wheel_name_version(path: Path) -> tuple[str, str]:
    """(normalised name, version) from a wheel's file name."""
    parts = path.name.split("-")
    return normalize(parts[0]), parts[1]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(dest: Path, lock: dict[str, Pin], known: dict[str, frozenset[str]] | None = None) -> list[Fetched]:
    """Exactly one wheel per carried package at the locked version; pure ones match a locked hash.

    Wheels of other names or versions (left by an earlier run) are removed: two versions of one
    package stop ``pip install`` on the machine.
    """
    wanted = {name: lock[name].version for name in CARRIED}
    known = known if known is not None else {name: pin.hashes for name, pin in lock.items()}
    fetched: list[Fetched] = []
    for path in sorted(dest.glob("*.whl")):
        name, version = wheel_name_version(path)
        if wanted.get(name) != version:
            logger.info("removing %s (not a carried pin)", path.name)
            path.unlink()
            continue
        _check_readable(path)
        digest = sha256(path)
        locked = digest in known.get(name, frozenset())
        if path.name.endswith("-none-any.whl") and not locked:
            raise SystemExit(f"{path.name}: sha256 {digest} is not the lock's ({', '.join(sorted(lock[name].hashes))})")
        fetched.append(Fetched(name, version, path.name, path.stat().st_size, digest, locked))
    missing = sorted(set(wanted) - {f.name for f in fetched})
    if missing:
        raise SystemExit(f"{dest}: no wheel for {', '.join(missing)}")
    return fetched


def _check_readable(path: Path) -> None:
    """A wheel is a zip with a dist-info METADATA; a truncated download fails here, not on the GPU machine."""
    with zipfile.ZipFile(path) as archive:
        if archive.testzip() is not None or not any(n.endswith(".dist-info/METADATA") for n in archive.namelist()):
            raise SystemExit(f"{path}: not a complete wheel")


def write_records(dest: Path, fetched: list[Fetched]) -> int:
    """SHA256SUMS (for ``sha256sum -c`` there) and manifest.json; returns the folder's size in bytes."""
    (dest / SUMS).write_text("".join(f"{f.sha256}  {f.file}\n" for f in fetched), encoding="utf-8")
    total = sum(f.size for f in fetched)
    manifest = {"lock": str(LOCK.relative_to(REPO)),
                "hashes_from": [str(path.relative_to(REPO)) for path in sorted(LOCKS.glob("requirements-*.lock"))],
                "python": "3.12", "platforms": list(PLATFORMS),
                "total_bytes": total, "wheels": [asdict(f) for f in fetched]}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return total


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEST, help="the carried wheel folder (default bench/gpu/wheels)")
    parser.add_argument("--verify-only", action="store_true", help="check what is there, download nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    lock = read_lock()
    args.dest.mkdir(parents=True, exist_ok=True)
    if not args.verify_only:
        download(requirements(lock), args.dest)
    fetched = verify(args.dest, lock, known_hashes(lock))
    total = write_records(args.dest, fetched)
    for f in fetched:
        check = "sha256 in a lock" if f.checked_against_lock else "compiled wheel no lock lists: sha256 recorded"
        logger.info("%-20s %-10s %8.1f kB  %s", f.name, f.version, f.size / 1024, check)
    logger.info("%d wheels, %.1f MB in %s", len(fetched), total / 1e6, args.dest)
    if total > CAP_BYTES:
        raise SystemExit(f"{args.dest}: {total} bytes is over the {CAP_BYTES} the device machine takes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
