"""Making the image's locks (runner/image/lock.py) from index pages of our own: no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.image.lock import (
    LockError,
    LockPlan,
    Resolved,
    WheelFile,
    closure_problems,
    lock_path,
    lock_pythons,
    missing_wheels,
    parse_report,
    parse_simple,
    plan_lock,
    read_lock,
    render_lock,
    runtime_pins,
    torch_index_url,
    wheels_for,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "image_lock"


def demo_files() -> list[WheelFile]:
    return parse_simple((FIXTURES / "simple-demo.json").read_bytes(), "application/vnd.pypi.simple.v1+json", "https://x/simple/demo/")


def digests(files: list[WheelFile]) -> list[str]:
    return sorted(f.sha256[-2:] for f in files)


def test_the_json_simple_api_gives_every_wheel_with_its_hash_and_no_sdist_or_yanked_file() -> None:
    files = demo_files()
    assert digests(files) == ["b1", "b2", "b3", "b4", "b5", "b6", "c1", "c2"]
    assert all(f.filename.endswith(".whl") and len(f.sha256) == 64 for f in files)


def test_the_html_simple_api_gives_hashes_from_the_links_and_unquotes_local_versions() -> None:
    page = (FIXTURES / "simple-torch-cpu.html").read_bytes()
    files = parse_simple(page, "text/html", "https://download.example/whl/cpu/torch/")
    assert [f.filename for f in files] == ["torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                                           "torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
                                           "torch-2.13.0+cpu-cp313-cp313-win_amd64.whl"], "yanked and hashless links are dropped"
    assert files[0].requires_python == ">=3.10"
    assert digests(wheels_for(files, "2.13.0+cpu", "3.12")) == ["d2"]
    assert wheels_for(files, "2.13.0", "3.12") == [], "2.13.0 (PyPI's CUDA build) is not 2.13.0+cpu"
    assert missing_wheels({"torch": "2.13.0+cpu"}, {"torch": files}, "3.13") == ["torch==2.13.0+cpu"], "a Windows wheel does not count"


@pytest.mark.parametrize(("version", "python", "expected"), [
    ("1.0", "3.11", ["b1"]),  # manylinux2014 alias; the aarch64 abi3 wheel does not count
    ("1.0", "3.12", ["b2"]),
    ("1.0", "3.13", []),  # glibc 2.34 is newer than the 2.28 we promise; free-threaded and musl wheels do not install
    ("1.0", "3.10", []),  # its only wheel is yanked
    ("2.0", "3.11", ["c1"]),  # the pure wheel says Requires-Python >=3.12
    ("2.0", "3.13", ["c1", "c2"]),  # an abi3 wheel from 3.11 installs on 3.13
    ("2.0", "3.10", []),
])
def test_which_wheels_install_on_which_python(version: str, python: str, expected: list[str]) -> None:
    assert digests(wheels_for(demo_files(), version, python)) == expected


def test_the_missing_wheel_report_names_each_pin_without_a_wheel() -> None:
    files = {"demo": demo_files(), "other": []}
    assert missing_wheels({"demo": "1.0", "other": "3.0"}, files, "3.13") == ["demo==1.0", "other==3.0"]
    assert missing_wheels({"demo": "2.0"}, files, "3.12") == []


def test_the_closure_follows_markers_and_extras_for_each_python() -> None:
    resolved = parse_report(json.loads((FIXTURES / "pip-report.json").read_text()))
    assert set(resolved) == {"app", "lib", "speedup"}, "names are normalised"
    assert closure_problems(["app==1.0"], resolved, "3.11") == [], "the extra's dependency is there, the docs extra's is not needed"
    [problem] = closure_problems(["app==1.0"], resolved, "3.10")
    assert problem.startswith("app==1.0 requires backport") and "Python 3.10" in problem and "has none" in problem
    [pinned] = closure_problems(["app==1.0", "speedup==0.6"], resolved, "3.12")
    assert "speedup==0.6" in pinned and "has 0.5" in pinned


def resolutions(*, fail: set[str]) -> object:
    """A stand-in for pip: app 1.0 needs demo 2.0 everywhere it resolves; the Pythons in ``fail`` do not resolve."""
    calls: list[tuple[str, dict[str, str]]] = []

    def resolver(pins: list[str], python: str, constraints: dict[str, str]) -> dict[str, Resolved]:
        calls.append((python, dict(constraints)))
        if python in fail:
            raise LockError(f"pip cannot resolve the pins for Python {python}: ERROR: no demo")
        return {"app": Resolved("1.0", ("demo==2.0",)), "demo": Resolved("2.0", ())}

    resolver.calls = calls  # type: ignore[attr-defined]
    return resolver


def files_of(name: str) -> list[WheelFile]:
    pure = WheelFile("app-1.0-py3-none-any.whl", "a" * 64)
    return [pure] if name == "app" else demo_files()


def test_a_lock_covers_the_pythons_with_a_wheel_for_every_pin_and_says_why_not_for_the_others() -> None:
    resolver = resolutions(fail={"3.10"})
    plan = plan_lock("cuda", ["app==1.0"], ["3.10", "3.11", "3.12", "3.13"], resolver, files_of, {"app": "1.0"})
    assert plan.covered == ["3.11", "3.12", "3.13"]
    assert plan.not_covered == {"3.10": "no wheel installs on it: demo==2.0"}, "pip's failure is explained by the missing wheel"
    assert plan.versions == {"app": "1.0", "demo": "2.0"}
    assert sorted(h[-2:] for h in plan.hashes["demo"]) == ["c1", "c2"], "every wheel that installs on a covered Python"
    first, *others = resolver.calls  # type: ignore[attr-defined]
    assert first == ("3.13", {"app": "1.0"}), "the newest Python first, with the caller's constraints"
    assert all(constraints == {"app": "1.0", "demo": "2.0"} for _, constraints in others), "the others must take its versions"


def test_no_covered_python_is_an_error_naming_each_reason() -> None:
    with pytest.raises(LockError) as caught:
        plan_lock("cpu", ["app==1.0"], ["3.12", "3.13"], resolutions(fail={"3.12", "3.13"}), files_of, {})
    assert "no Python can use a cpu lock" in caught.value.message and "3.12: pip cannot resolve" in caught.value.message


def test_the_written_lock_reads_back_with_its_coverage(tmp_path: Path) -> None:
    plan = LockPlan("cuda", {"app": "1.0", "demo": "2.0"}, {"app": {"a" * 64}, "demo": {"c" * 64, "d" * 64}},
                    ["https://x/simple"], ["3.11", "3.12"], {"3.10": "no wheel installs on it: demo==2.0"})
    lock = tmp_path / "requirements-cuda.lock"
    lock.write_text(render_lock(plan, "python -m runner.image.lock --flavour cuda"))
    text = lock.read_text()
    assert text.startswith("# Generated by runner/image/lock.py (cuda flavour)") and "Do not edit by hand" in text.splitlines()[0]
    assert "# Made with: python -m runner.image.lock --flavour cuda" in text and "# not covered: Python 3.10: no wheel" in text
    assert lock_pythons(lock) == ("3.11", "3.12")
    assert [(p.name, p.version, p.hashes) for p in read_lock(lock)] == [("app", "1.0", ("a" * 64,)), ("demo", "2.0", ("c" * 64, "d" * 64))]
    assert "demo==2.0 --hash=sha256:" + "c" * 64 + " --hash=sha256:" + "d" * 64 in text.splitlines(), "one line per package"


def test_a_lock_line_without_a_hash_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "bad.lock"
    lock.write_text("demo==2.0\n")
    with pytest.raises(LockError, match="demo==2.0 has no --hash"):
        read_lock(lock)


def test_the_cpu_flavour_pins_torch_s_cpu_build_and_the_image_gets_dumb_init() -> None:
    cuda, cpu = runtime_pins("cuda"), runtime_pins("cpu")
    assert "torch==2.13.0" in cuda and "torch==2.13.0+cpu" in cpu
    assert "dumb-init==1.2.5.post1" in cuda and [p for p in cpu if not p.startswith("torch")] == [p for p in cuda if not p.startswith("torch")]


def test_the_torch_cpu_index_is_settable() -> None:
    assert torch_index_url().startswith("https://")
    assert torch_index_url("https://mirror.example/torch-cpu/") == "https://mirror.example/torch-cpu"


def test_the_shipped_locks_say_what_they_cover_and_share_every_wheel_but_torch_s() -> None:
    cuda, cpu = {p.name: p for p in read_lock(lock_path("cuda"))}, {p.name: p for p in read_lock(lock_path("cpu"))}
    assert lock_pythons(lock_path("cuda")) == ("3.11", "3.12", "3.13")
    assert lock_pythons(lock_path("cpu")) == ("3.11",), "the +cpu wheels for 3.12 and 3.13 were not reachable when it was made"
    assert cuda["torch"].version == "2.13.0" and len(cuda["torch"].hashes) == 3, "one torch wheel per covered Python"
    assert cpu["torch"].version == "2.13.0+cpu"
    assert {n: p.version for n, p in cpu.items() if n != "torch"} == {n: cuda[n].version for n in cpu if n != "torch"}
    assert {n for n in set(cuda) - set(cpu)} and all(n.startswith(("nvidia-", "cuda-", "triton")) for n in set(cuda) - set(cpu))
    with pytest.raises(LockError):
        lock_path("rocm")
