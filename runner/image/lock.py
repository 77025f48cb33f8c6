"""Make the image's locks: every wheel it installs, pinned by sha256, for every Python a base may bring.

A lock is a pip requirements file for ``pip install --require-hashes``. One lock per flavour:

* ``cuda`` (the default image): torch from PyPI, which is the CUDA build and pulls CUDA's libraries
  as ``nvidia-*``/``cuda-*`` wheels, so a ``base`` CUDA image without cuDNN is enough;
* ``cpu``: torch's ``+cpu`` build, which PyPI does not serve: it lives on PyTorch's CPU index
  (:data:`TORCH_CPU_INDEX`, settable with ``--torch-index-url`` or ``MMAR_TORCH_INDEX_URL``).

How it is made: pip resolves the runtime pins (pyproject.toml's dependencies plus dumb-init) once
per Python, for manylinux x86_64 up to glibc 2.28 (``pip install --dry-run --report``: it reads the
wheels' metadata, installs nothing); each resolution's closure is checked against that Python's
environment markers; then the index's simple API (PEP 691 JSON, or the PEP 503 HTML page) gives
the sha256 of every wheel of each pinned version that installs on each Python. A Python is
*covered* when it resolves to the same versions as the others and every one of them has a wheel
for it; the lock's header lists the covered Pythons (``# pythons: ...``), which ``mmar build``
checks against the base's Python, and says why each other Python is not covered.

    python -m runner.image.lock --flavour cuda --constraint runner/image/requirements-cpu.lock
    python -m runner.image.lock --flavour cpu  --constraint runner/image/requirements-cpu.lock [--find-links DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from runner.errors import MmarRunnerError, first_line

logger = logging.getLogger(__name__)

IMAGE_DIR = Path(__file__).resolve().parent
FLAVOURS = ("cuda", "cpu")
PYPI = "https://pypi.org/simple"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # the default only: --torch-index-url / MMAR_TORCH_INDEX_URL
TORCH_INDEX_ENV = "MMAR_TORCH_INDEX_URL"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
GLIBC_MAX = 28  # manylinux_2_28: every base we name has a newer glibc (Ubuntu 24.04 2.39, bookworm 2.36, trixie 2.41)
IMAGE_ONLY_PINS = ("dumb-init==1.2.5.post1",)  # PID 1 in the image; not a dependency of mmar-runner itself
PYTHONS_HEADER = "# pythons:"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class LockError(MmarRunnerError):
    """A lock cannot be made or read: the message names the package, the Python or the index."""


def lock_path(flavour: str) -> Path:
    """The lock shipped for a flavour (package data)."""
    if flavour not in FLAVOURS:
        raise LockError(f"unknown image flavour {flavour!r}", hint=f"one of: {', '.join(FLAVOURS)}")
    return IMAGE_DIR / f"requirements-{flavour}.lock"


def torch_index_url(explicit: str | None = None) -> str:
    """Where PyTorch's CPU wheels live: the argument (the CLIs read $MMAR_TORCH_INDEX_URL into it), else PyTorch's own index."""
    return (explicit or TORCH_CPU_INDEX).rstrip("/")


# --- reading a lock ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    hashes: tuple[str, ...]


def read_lock(lock: Path) -> list[LockedPackage]:
    """The lock's packages, each with every hash it allows (one wheel per Python and platform tag)."""
    text = lock.read_text().replace("\\\n", " ")
    packages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *hashes = line.split("--hash=sha256:")
        name, _, version = requirement.strip().partition("==")
        if not hashes:
            raise LockError(f"{lock}: {requirement.strip()} has no --hash=sha256:...", hint="a lock pins every wheel by hash")
        packages.append(LockedPackage(canonicalize_name(name), version.strip(), tuple(h.strip() for h in hashes)))
    return packages


def lock_pythons(lock: Path) -> tuple[str, ...] | None:
    """The Pythons the lock covers (its ``# pythons:`` line); None for a lock that does not say."""
    for line in lock.read_text().splitlines():
        if line.startswith(PYTHONS_HEADER):
            return tuple(line[len(PYTHONS_HEADER):].split())
    return None


# --- what an index offers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WheelFile:
    filename: str
    sha256: str
    requires_python: str | None = None

    @property
    def version(self) -> Version:
        return parse_wheel_filename(self.filename)[1]

    @property
    def tags(self) -> frozenset[Tag]:
        return parse_wheel_filename(self.filename)[3]


def parse_simple(body: bytes, content_type: str, base_url: str) -> list[WheelFile]:
    """The wheels (with sha256) on one project page of a simple API: PEP 691 JSON or PEP 503 HTML."""
    if "json" in content_type:
        page = json.loads(body)
        entries = [(f["filename"], f.get("hashes", {}).get("sha256"), f.get("requires-python"), bool(f.get("yanked")))
                   for f in page.get("files", [])]
    else:
        links = _Links()
        links.feed(body.decode("utf-8", "replace"))
        entries = []
        for href, attrs in links.found:
            url, fragment = urldefrag(urljoin(base_url, href))
            digest = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
            entries.append((unquote(url.rsplit("/", 1)[-1]), digest, attrs.get("data-requires-python"), "data-yanked" in attrs))
    return [WheelFile(name, digest, requires) for name, digest, requires, yanked in entries
            if name.endswith(".whl") and digest and not yanked and _valid_wheel_name(name)]


class _Links(HTMLParser):
    """The <a href> links of a PEP 503 page, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in values:
            self.found.append((values["href"], values))


def _valid_wheel_name(filename: str) -> bool:
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return True


def fetch_simple(index: str, name: str, timeout: float = 60) -> list[WheelFile]:
    """One project page of an index; [] when the index does not list the project (404)."""
    url = f"{index.rstrip('/')}/{canonicalize_name(name)}/"
    request = urllib.request.Request(url, headers={"Accept": JSON_ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - an index URL the user chose
            return parse_simple(response.read(), response.headers.get("Content-Type", ""), url)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise LockError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise LockError(f"{url}: not reachable ({first_line(exc)})",
                        hint=f"check the index URL and this machine's network; for torch's +cpu wheels: --torch-index-url URL "
                             f"(or ${TORCH_INDEX_ENV}), or --torch-index-url none --find-links DIR") from None


def local_wheels(folder: Path) -> list[WheelFile]:
    """Wheels on disk (a --find-links folder), hashed here."""
    return [WheelFile(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(folder.glob("*.whl"))]


# --- which wheels install on which Python ------------------------------------------------------------------------------


def platforms(glibc_max: int = GLIBC_MAX) -> list[str]:
    """manylinux x86_64 platform tags from glibc 2.<glibc_max> down to 2.5, with their legacy aliases."""
    return [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_max, 4, -1)] + [
        "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def supported_tags(python: str, glibc_max: int = GLIBC_MAX) -> frozenset[Tag]:
    """The wheel tags CPython ``python`` accepts on manylinux x86_64 (no free-threaded or debug builds)."""
    version = tuple(int(part) for part in python.split("."))
    interpreter = f"cp{version[0]}{version[1]}"
    plats = platforms(glibc_max)
    return frozenset([*cpython_tags(version, abis=[interpreter], platforms=plats),
                      *compatible_tags(version, interpreter=interpreter, platforms=plats)])


def wheels_for(files: Iterable[WheelFile], version: str, python: str) -> list[WheelFile]:
    """The files of ``version`` that install on ``python`` (tags and Requires-Python)."""
    wanted, tags = Version(version), supported_tags(python)
    return [f for f in files if f.version == wanted and f.tags & tags
            and (not f.requires_python or SpecifierSet(f.requires_python).contains(f"{python}.0", prereleases=True))]


def missing_wheels(pins: dict[str, str], files: dict[str, list[WheelFile]], python: str) -> list[str]:
    """``name==version`` of each pin with no wheel for ``python``."""
    return [f"{name}=={version}" for name, version in sorted(pins.items()) if not wheels_for(files.get(name, []), version, python)]


# --- resolution ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    version: str
    requires: tuple[str, ...]  # Requires-Dist, markers included


def marker_environment(python: str) -> dict[str, str]:
    """The environment markers of CPython ``python`` on Linux x86_64 (pip evaluates them for the running Python)."""
    return {"python_version": python, "python_full_version": f"{python}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
            "os_name": "posix", "platform_machine": "x86_64"}


def closure_problems(roots: Iterable[str], resolved: dict[str, Resolved], python: str) -> list[str]:
    """Requirements that ``python`` needs and the resolution lacks (or has at a version they refuse)."""
    environment = marker_environment(python)
    problems: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    queue: list[tuple[Requirement, frozenset[str], str]] = [(Requirement(r), frozenset(), "the pins") for r in roots]
    while queue:
        requirement, parent_extras, parent = queue.pop()
        if requirement.marker and not _applies(requirement.marker, environment, parent_extras):
            continue
        name = canonicalize_name(requirement.name)
        found = resolved.get(name)
        if found is None or not requirement.specifier.contains(found.version, prereleases=True):
            got = f"has {found.version}" if found else "has none"
            problems.append(f"{parent} requires {requirement} on Python {python}; the resolution {got}")
            continue
        key = (name, frozenset(requirement.extras))
        if key not in seen:
            seen.add(key)
            queue += [(Requirement(text), key[1], f"{name}=={found.version}") for text in found.requires]
    return problems


def _applies(marker: Marker, environment: dict[str, str], extras: frozenset[str]) -> bool:
    return any(marker.evaluate({**environment, "extra": extra}) for extra in ("", *sorted(extras)))


def parse_report(report: dict) -> dict[str, Resolved]:
    """name -> what pip's ``--report`` says it would install."""
    return {canonicalize_name(item["metadata"]["name"]): Resolved(item["metadata"]["version"], tuple(item["metadata"].get("requires_dist") or ()))
            for item in report["install"]}


def resolve(pins: list[str], python: str, indexes: list[str], find_links: list[Path], constraints: dict[str, str]) -> dict[str, Resolved]:
    """What pip installs for ``pins`` on CPython ``python`` (manylinux x86_64), without installing it.

    pip's own configuration is bypassed (``--isolated``, no config file): the lock must not depend
    on this machine's pip.conf. Raises LockError with pip's last lines when it cannot resolve.
    """
    with tempfile.TemporaryDirectory(prefix="mmar-lock-") as scratch:
        work = Path(scratch)
        (work / "constraints.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(constraints.items())))
        command = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--report", str(work / "report.json"), "--only-binary=:all:", "--python-version", python,
                   "--implementation", "cp", "--target", str(work / "target"),
                   "--index-url", indexes[0], *[a for url in indexes[1:] for a in ("--extra-index-url", url)],
                   *[a for folder in find_links for a in ("--find-links", str(folder))],
                   *[a for p in platforms() for a in ("--platform", p)], "-c", str(work / "constraints.txt"), *pins]
        cert = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
        if cert:
            command[5:5] = ["--cert", cert]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.startswith("ERROR")] or done.stderr.strip().splitlines()
            raise LockError(f"pip cannot resolve the pins for Python {python}: {' '.join(lines[:2]) or done.returncode}")
        return parse_report(json.loads((work / "report.json").read_text()))


# --- making a lock ------------------------------------------------------------------------------------------------------


@dataclass
class LockPlan:
    """What a lock will hold: the pins, per-Python coverage, and every hash per package."""

    flavour: str
    versions: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, set[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # indexes and wheel folders the hashes come from
    covered: list[str] = field(default_factory=list)
    not_covered: dict[str, str] = field(default_factory=dict)  # Python -> why


def runtime_pins(flavour: str, pyproject: Path = IMAGE_DIR.parents[1] / "pyproject.toml") -> list[str]:
    """pyproject.toml's runtime dependencies plus the image-only pins; torch as ``+cpu`` for the CPU flavour."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the installed distribution's metadata holds the same list
        from importlib.metadata import requires
        pins = [r for r in requires("mmar-runner") or [] if "extra ==" not in r]
    else:
        pins = list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    pins += IMAGE_ONLY_PINS
    if flavour == "cpu":
        pins = [f"{p}+cpu" if canonicalize_name(Requirement(p).name) == "torch" and "+" not in p and "==" in p else p for p in pins]
    return pins


def constraint_versions(path: Path, skip: Iterable[str] = ("torch",)) -> dict[str, str]:
    """Versions pinned by another lock (or a requirements file), to keep the flavours on the same wheels."""
    return {p.name: p.version for p in read_lock(path) if p.name not in set(skip)}


def plan_lock(flavour: str, pins: list[str], pythons: Iterable[str], resolver: Callable[..., dict[str, Resolved]],
              files_of: Callable[[str], list[WheelFile]], constraints: dict[str, str]) -> LockPlan:
    """Resolve per Python (newest first; the first that resolves sets the versions the others must take), then hash."""
    plan = LockPlan(flavour)
    reference: dict[str, Resolved] | None = None
    files: dict[str, list[WheelFile]] = {}
    for python in sorted(pythons, key=lambda v: Version(v), reverse=True):
        logger.info("resolving for Python %s", python)
        try:
            resolved = resolver(pins, python, {**constraints, **({n: r.version for n, r in reference.items()} if reference else {})})
        except LockError as exc:
            plan.not_covered[python] = exc.message
            continue
        problems = closure_problems(pins, resolved, python)
        if reference is None and not problems:
            reference = resolved
            plan.versions = {name: r.version for name, r in sorted(resolved.items())}
        elif problems or {n: r.version for n, r in resolved.items()} != plan.versions:
            plan.not_covered[python] = "; ".join(problems) or "resolves to other versions than the newer Pythons"
            continue
        for name in plan.versions:
            if name not in files:
                logger.info("hashes of %s==%s", name, plan.versions[name])
                files[name] = files_of(name)
        missing = missing_wheels(plan.versions, files, python)
        if missing:
            plan.not_covered[python] = f"no wheel installs on it: {', '.join(missing)}"
            continue
        plan.covered.append(python)
        for name, version in plan.versions.items():
            plan.hashes.setdefault(name, set()).update(f.sha256 for f in wheels_for(files[name], version, python))
    for python, why in list(plan.not_covered.items()):
        if why.startswith("pip cannot resolve") and plan.versions:  # say which pins lack a wheel, not only that pip gave up
            missing = missing_wheels(plan.versions, {n: files.get(n) or files_of(n) for n in plan.versions}, python)
            if missing:
                plan.not_covered[python] = f"no wheel installs on it: {', '.join(missing)}"
    if not plan.covered:
        raise LockError(f"no Python can use a {flavour} lock: " + "; ".join(f"{p}: {w}" for p, w in sorted(plan.not_covered.items())))
    plan.covered.sort(key=Version)
    return plan


def render_lock(plan: LockPlan, command: str) -> str:
    """The lock file: a header saying how it was made and what it covers, then one line per package with every hash."""
    lines = [f"# Generated by runner/image/lock.py ({plan.flavour} flavour) from the index's wheels. Do not edit by hand.",
             f"# Made with: {command}",
             f"# Wheels: manylinux x86_64 up to glibc 2.{GLIBC_MAX} (the base needs glibc 2.{GLIBC_MAX} or newer), from {', '.join(plan.sources) or 'the index'}.",
             "# A Python is covered when every package has a wheel for it; mmar build refuses a base whose Python is not listed.",
             f"{PYTHONS_HEADER} {' '.join(plan.covered)}"]
    lines += [f"# not covered: Python {python}: {why}" for python, why in sorted(plan.not_covered.items(), key=lambda kv: Version(kv[0]))]
    for name, version in sorted(plan.versions.items()):  # one line each, every hash on it: line-based readers keep working
        lines.append(" ".join([f"{name}=={version}", *(f"--hash=sha256:{digest}" for digest in sorted(plan.hashes.get(name, ())))]))
    return "\n".join(lines) + "\n"


def make_lock(flavour: str, pythons: Iterable[str] = PYTHONS, index: str = PYPI, torch_index: str | None = None,
              find_links: Iterable[Path] = (), constraint: Path | None = None) -> LockPlan:
    """Resolve and hash a lock against real indexes (the network)."""
    indexes = [index] + ([torch_index_url(torch_index)] if flavour == "cpu" and torch_index != "none" else [])
    links = list(find_links)
    local = [w for folder in links for w in local_wheels(folder)]
    constraints = constraint_versions(constraint) if constraint else {}

    def resolver(pins: list[str], python: str, pinned: dict[str, str]) -> dict[str, Resolved]:
        return resolve(pins, python, indexes, links, pinned)

    def files_of(name: str) -> list[WheelFile]:
        found = [w for w in local if canonicalize_name(parse_wheel_filename(w.filename)[0]) == name]
        return found + [w for url in indexes for w in fetch_simple(url, name)]

    for url in indexes:  # an index that cannot be reached is said up front, not as "no matching distribution"
        fetch_simple(url, "torch")
    plan = plan_lock(flavour, runtime_pins(flavour), pythons, resolver, files_of, constraints)
    plan.sources = [*(str(folder) for folder in links), *indexes]
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.image.lock", description=__doc__.splitlines()[0])
    parser.add_argument("--flavour", choices=FLAVOURS, default="cuda", help="which torch build (default cuda)")
    parser.add_argument("--python", action="append", dest="pythons", help=f"a Python to cover (repeatable; default {' '.join(PYTHONS)})")
    parser.add_argument("--index-url", default=PYPI, help=f"the package index (default {PYPI})")
    parser.add_argument("--torch-index-url", default=os.environ.get(TORCH_INDEX_ENV),
                        help=f"cpu flavour: where torch's +cpu wheels live (default ${TORCH_INDEX_ENV} or {TORCH_CPU_INDEX}; 'none': only --find-links)")
    parser.add_argument("--find-links", action="append", type=Path, default=[], help="a folder of wheels to use as well (repeatable)")
    parser.add_argument("--constraint", type=Path, help="keep every package but torch at this lock's versions")
    parser.add_argument("-o", "--output", type=Path, help="where to write (default runner/image/requirements-FLAVOUR.lock)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    command = "python -m runner.image.lock " + " ".join(_shown(argv if argv is not None else sys.argv[1:]))
    try:
        plan = make_lock(options.flavour, options.pythons or PYTHONS, options.index_url, options.torch_index_url,
                         options.find_links, options.constraint)
    except MmarRunnerError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    output = options.output or lock_path(options.flavour)
    output.write_text(render_lock(plan, command))
    logger.info("%s: %d packages, Pythons %s%s", output, len(plan.versions), " ".join(plan.covered),
                "".join(f"\n  not covered: {p}: {w}" for p, w in sorted(plan.not_covered.items())))
    return 0


def _shown(words: list[str]) -> list[str]:
    """The command line as recorded in the lock, with paths inside the checkout made relative to it."""
    root = str(IMAGE_DIR.parents[1]) + "/"
    return [re.sub(r"\s", "_", w.replace(root, "")) for w in words]


if __name__ == "__main__":
    raise SystemExit(main())
