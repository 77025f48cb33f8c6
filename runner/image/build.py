"""``mmar build``: assemble a minimal build context and build the image through the Docker SDK.

The context holds only what the Dockerfile copies: the Dockerfile, the lock, a wheel of
mmar-runner, an optional wheelhouse (air-gapped builds), optional CA certificates (builds behind
a TLS-intercepting proxy; they stay in the build stage), and the MMAR (or MONAI bundle) and nothing else: no path
of the host outside it, no data, outputs, version control or secrets (runner/image/context.py). The build runs with ``--network none`` when the wheelhouse holds every locked
wheel, which proves it is air-gapped; otherwise on the host network.

Two flavours, one lock each (runner/image/lock.py makes them): ``cuda``, the default, installs
PyPI's torch (the CUDA build, with CUDA's libraries as wheels), which is what ``docker run --gpus
all`` needs and which also trains on CPU; ``cpu`` installs torch's ``+cpu`` build from PyTorch's
CPU index (settable). A lock lists the Pythons it has wheels for; the build stage refuses a base
whose Python is not among them, in seconds and before pip downloads anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import HostError, ImageBuildError, MmarRunnerError, first_line
from runner.image.context import StagedMmar, stage_mmar
from runner.image.lock import FLAVOURS, lock_path, lock_pythons, read_lock, torch_index_url
from runner.image.source import BUNDLE_FORMAT, MMAR_FORMAT, ImageSource, checked_source
from runner.manifest import folder_digest

logger = logging.getLogger(__name__)

IMAGE_DIR = Path(__file__).resolve().parent
DEFAULT_FLAVOUR = "cuda"
LOCK = lock_path(DEFAULT_FLAVOUR)  # the default image's lock
CPU_LOCK = lock_path("cpu")
NOT_COVERED = "mmar-build: python-not-covered"  # what the Dockerfile prints when the base's Python is not in the lock
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01: the wheel of mmar-runner is byte-identical between builds


@dataclass(frozen=True)
class BuildRequest:
    mmar: Path | None  # an MMAR or a MONAI bundle; None: the runtime stage only
    tag: str
    base_image: str | None = None
    wheelhouse: Path | None = None
    ca_certs: tuple[Path, ...] = ()
    no_cache: bool = False
    lock: Path | None = None  # requirements with hashes; None: the flavour's lock shipped with mmar-runner
    allow_outside_links: bool = False  # copy what symbolic links out of the MMAR point to (refused by default)
    flavour: str = DEFAULT_FLAVOUR  # "cuda" (PyPI's torch, runs on GPU or CPU) or "cpu" (torch's +cpu build)
    torch_index_url: str | None = None  # cpu flavour: where pip finds torch's +cpu wheels (None: PyTorch's; "none": nowhere extra)

    @property
    def lock_file(self) -> Path:
        return self.lock or lock_path(self.flavour)


@dataclass(frozen=True)
class BuildResult:
    tag: str
    image_id: str
    seconds: float
    air_gapped: bool
    mmar_digest: str | None
    build_args: dict[str, str] = field(default_factory=dict)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # MMAR paths not in the image, with why
    flavour: str = DEFAULT_FLAVOUR
    pythons: tuple[str, ...] | None = None  # the Pythons the lock covers (None: the lock does not say)
    source_format: str | None = None  # "mmar" or "bundle"; None for the runtime stage


def engine() -> Any:
    """A Docker SDK client for the engine at DOCKER_HOST (or the default socket), or a clear error."""
    try:
        import docker
    except ImportError:
        raise MmarRunnerError("the Docker SDK is not installed", hint="pip install 'mmar-runner[image]'") from None
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - every way of not reaching an engine ends here
        raise HostError(f"no Docker engine reachable at {where}: {first_line(exc)}",
                        hint="start Docker (dockerd), or point DOCKER_HOST at a running engine") from None
    return client


def locked_wheels(lock: Path = LOCK) -> dict[str, str]:
    """sha256 -> 'name==version' for every hash of the lock (a package has one per Python and platform tag)."""
    return {digest: f"{p.name}=={p.version}" for p in read_lock(lock) for digest in p.hashes}


def wheelhouse_covers_lock(wheelhouse: Path, lock: Path = LOCK) -> bool:
    """Every package of the lock has one of its wheels in the folder (for the wheelhouse's Python: see docs/DOCKER.md)."""
    present = {hashlib.sha256(p.read_bytes()).hexdigest() for p in wheelhouse.glob("*.whl")}
    return all(set(p.hashes) & present for p in read_lock(lock))


def lock_versions(lock: Path = LOCK) -> dict[str, str]:
    return {p.name: p.version for p in read_lock(lock)}


def checked_flavour(request: BuildRequest) -> None:
    """Refuse an unknown flavour, a missing lock, or a lock whose torch is not the flavour's build (bad input, exit 2)."""
    if request.flavour not in FLAVOURS:
        raise MmarRunnerError(f"--flavour {request.flavour}: not a flavour", hint=f"one of: {', '.join(FLAVOURS)}")
    if not request.lock_file.is_file():
        raise MmarRunnerError(f"--lock {request.lock_file}: file not found")
    torch = lock_versions(request.lock_file).get("torch", "")
    if torch and ("+cpu" in torch) != (request.flavour == "cpu"):
        wanted = "cpu" if "+cpu" in torch else "cuda"
        raise MmarRunnerError(f"--lock {request.lock_file} holds torch {torch}, the {wanted} build, not the {request.flavour} flavour's",
                              hint=f"--flavour {wanted}, or a lock made with python -m runner.image.lock --flavour {request.flavour}")


def build_image(request: BuildRequest, client: Any | None = None, progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build ``request.tag``: the MMAR's (``bundle``) or MONAI bundle's (``monai-bundle``) stage, else the runtime stage.

    Raises:
        MmarLayoutError: the folder is neither an MMAR nor a bundle.
        ConfigError: custom/ hides another module, or a link leads out of the MMAR.
        HostError: no engine is reachable.
        MmarRunnerError: the build failed (the engine's own message is included).
    """
    emit = progress or (lambda line: logger.info("%s", line))
    checked_flavour(request)
    pythons = lock_pythons(request.lock_file)
    with tempfile.TemporaryDirectory(prefix="mmar-build-") as scratch:
        context = Path(scratch)
        source = checked_source(request.mmar) if request.mmar is not None else None
        mmar_digest, staged = _stage_source(source, context / "mmar", request.allow_outside_links)
        client = client or engine()  # bad input is refused before the engine is asked
        _stage_build_files(request, context)
        for path, reason in staged.left_out:
            emit(f"left out of the image: {path} ({reason})")
        air_gapped = request.wheelhouse is not None and wheelhouse_covers_lock(context / "wheelhouse", request.lock_file)
        args = _build_args(request, client, mmar_digest, source)
        target = source.stage if source else "runtime"
        emit(f"building {request.tag} (stage {target}, {request.flavour} flavour, {'air-gapped' if air_gapped else 'network: host'}, "
             f"base {args['BASE_IMAGE']}, lock for Python {' '.join(pythons) if pythons else 'unstated'})")
        started = time.perf_counter()
        image_id = _run_build(client, context, request, target, args, "none" if air_gapped else "host", emit, pythons)
    return BuildResult(request.tag, image_id, time.perf_counter() - started, air_gapped, mmar_digest, args, staged.left_out,
                       request.flavour, pythons, source.format if source else None)


def _stage_mmar(mmar: Path | None, target: Path, allow_outside_links: bool) -> tuple[str | None, StagedMmar]:
    """The MMAR's (or bundle's) part of the context (empty for the runtime stage), and its digest."""
    return _stage_source(checked_source(mmar) if mmar is not None else None, target, allow_outside_links)


def _stage_source(source: ImageSource | None, target: Path, allow_outside_links: bool) -> tuple[str | None, StagedMmar]:
    """Copy ``source`` into ``target`` by its format's rules (runner.image.context); its digest, as the manifests compute it."""
    if source is None:
        target.mkdir()
        return None, StagedMmar()
    staged = stage_mmar(source.root, target, allow_outside_links, source.rules)
    return folder_digest(target), staged


def _stage_build_files(request: BuildRequest, context: Path) -> None:
    """Everything else the Dockerfile copies: the lock, the wheels, CA certificates, mmar's wheel and the SBOM."""
    shutil.copy2(IMAGE_DIR / "Dockerfile", context / "Dockerfile")
    if not request.lock_file.is_file():
        raise MmarRunnerError(f"--lock {request.lock_file}: file not found")
    shutil.copy2(request.lock_file, context / "requirements.lock")
    (context / ".dockerignore").write_text("\n".join(["**/__pycache__", "**/*.pyc"]) + "\n")
    _link_tree(request.wheelhouse, context / "wheelhouse", "*.whl")
    (context / "build-ca").mkdir()
    for index, cert in enumerate(request.ca_certs):
        if not cert.is_file():
            raise MmarRunnerError(f"--ca-cert {cert}: file not found")
        shutil.copy2(cert, context / "build-ca" / f"extra-{index}.crt")
    _runner_wheel(context / "dist")
    write_sbom(request.lock_file, context / "sbom" / SBOM_NAME)


SBOM_NAME = "sbom.cdx.json"


def write_sbom(lock: Path, out: Path) -> None:
    """A CycloneDX SBOM of what the image installs (every locked wheel, with its hash), by CycloneDX's own tool.

    Reproducible (no timestamp or serial number), so an unchanged lock keeps the image's cached layers.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "cyclonedx_py", "requirements", "--pyproject", str(IMAGE_DIR.parents[1] / "pyproject.toml"),
                           "--output-reproducible", "--of", "JSON", "-o", str(out), str(lock)], capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        if "No module named cyclonedx_py" in done.stderr:
            raise MmarRunnerError("mmar build writes an SBOM with CycloneDX's tool, which is not installed",
                                  hint="pip install 'mmar-runner[image]'")
        raise MmarRunnerError(f"writing the image's SBOM failed: {first_line(RuntimeError(done.stderr.strip() or done.returncode))}")


def _link_tree(source: Path | None, target: Path, pattern: str) -> None:
    """Hard-link (else copy) the wheelhouse into the context: hundreds of MB, not worth copying."""
    target.mkdir()
    if source is None:
        return
    if not source.is_dir():
        raise MmarRunnerError(f"--wheelhouse {source}: not a folder")
    for file in source.glob(pattern):
        try:
            os.link(file, target / file.name)
        except OSError:
            shutil.copy2(file, target / file.name)


def _runner_wheel(dist: Path) -> None:
    """A byte-reproducible wheel of this mmar-runner checkout (unchanged code keeps its build cache)."""
    source = IMAGE_DIR.parents[1]
    if not (source / "pyproject.toml").is_file():
        raise MmarRunnerError("mmar build needs a mmar-runner source checkout (pyproject.toml beside runner/)")
    dist.mkdir()
    with tempfile.TemporaryDirectory(prefix="mmar-wheel-") as work:
        shutil.copytree(source, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "bundles", "tests", "bench", ".pytest_cache", ".ruff_cache"))
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), work],
                              capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
    if done.returncode != 0:
        raise MmarRunnerError(f"building the mmar-runner wheel failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")


def _build_args(request: BuildRequest, client: Any, mmar_digest: str | None, source: ImageSource | None = None) -> dict[str, str]:
    from runner import __version__

    versions = lock_versions(request.lock_file)
    args = {
        "TORCH_VERSION": versions.get("torch", "unknown"),
        "TORCH_CUDA": torch_cuda(versions),
        "MONAI_VERSION": versions.get("monai", "unknown"),
        "RUNNER_VERSION": __version__,
        "FLAVOUR": request.flavour,
    }
    if request.flavour == "cpu":  # "none": the wheelhouse or the main index already holds torch's +cpu wheels
        index = torch_index_url(request.torch_index_url)
        args["TORCH_INDEX_URL"] = "" if index == "none" else index
    if request.base_image:
        args["BASE_IMAGE"] = request.base_image
        args["BASE_IMAGE_ID"] = _image_id(client, request.base_image)
    else:
        args["BASE_IMAGE"] = _dockerfile_default_base()
    if request.mmar is not None:
        args.update(source_args(source or checked_source(request.mmar), mmar_digest))
        args["IMAGE_REF"] = request.tag  # the run's manifest names the image it ran in (a pod overrides it with --image)
    return args


def source_args(source: ImageSource, digest: str | None) -> dict[str, str]:
    """The build arguments the format's stage turns into labels: name, digest, and a bundle's version."""
    if source.format == BUNDLE_FORMAT:
        return {"BUNDLE_NAME": source.name, "BUNDLE_VERSION": source.version or "unknown", "BUNDLE_DIGEST": digest or "unknown"}
    assert source.format == MMAR_FORMAT
    return {"MMAR_NAME": source.name, "MMAR_DIGEST": digest or "unknown"}


def torch_cuda(versions: dict[str, str]) -> str:
    """The CUDA version the locked torch runs on: "none" for a CPU build."""
    torch = versions.get("torch", "")
    if "+cpu" in torch:
        return "none"
    if "+cu" in torch:
        digits = torch.split("+cu")[-1]
        return f"{digits[:-1]}.{digits[-1]}"
    for runtime in ("cuda-toolkit", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu13", "nvidia-cuda-runtime-cu12"):
        if runtime in versions:
            return ".".join(versions[runtime].split(".")[:2])
    return "none" if torch else "unknown"


def _dockerfile_default_base() -> str:
    for line in (IMAGE_DIR / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG BASE_IMAGE="):
            return line.split("=", 1)[1].strip()
    return "unknown"


def _image_id(client: Any, reference: str) -> str:
    try:
        image = client.images.get(reference)
    except Exception:  # noqa: BLE001 - not present locally: the engine will say so when it builds
        return "unknown"
    digests = image.attrs.get("RepoDigests") or []
    return digests[0] if digests else image.id


def _run_build(client: Any, context: Path, request: BuildRequest, target: str, args: dict[str, str], network: str,
               emit: Callable[[str], None], pythons: tuple[str, ...] | None = None) -> str:
    image_id = None
    refused = None
    stream = client.api.build(path=str(context), tag=request.tag, target=target, buildargs=args, network_mode=network,
                              nocache=request.no_cache, rm=True, forcerm=True, pull=False, decode=True)
    for chunk in stream:
        if "error" in chunk:
            if refused:
                raise not_covered(refused, request, args, pythons)
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise ImageBuildError(f"docker build of {request.tag} failed: {detail.strip()}")
        text = chunk.get("stream", "").rstrip()
        if NOT_COVERED in text:
            refused = text.split(NOT_COVERED, 1)[1].split()[0]
        if text:
            emit(text)
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    if image_id is None:
        image_id = client.images.get(request.tag).id
    return image_id


def not_covered(python: str, request: BuildRequest, args: dict[str, str], pythons: tuple[str, ...] | None) -> MmarRunnerError:
    """The base's Python has no wheels in the lock: bad input (exit 2), saying what would work."""
    covered = " ".join(pythons or ()) or "other versions"
    hint = (f"use a base with Python {covered.replace(' ', ', ')}, or make a lock that covers {python}: "
            f"python -m runner.image.lock --flavour {request.flavour}")
    if request.flavour == "cpu":
        hint += " (on a machine that reaches the torch CPU index)"
    return MmarRunnerError(f"the base image {args['BASE_IMAGE']} has Python {python}; the {request.flavour} lock "
                           f"{request.lock_file.name} has wheels for Python {covered} only", hint=hint)
