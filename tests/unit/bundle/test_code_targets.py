"""Signatures read from the bundle's own code with ast (never imported), and matched against config arguments."""

from __future__ import annotations

from pathlib import Path

from runner.bundle.scripts_ast import find_in_code
from runner.bundle.signature import mismatches, params_of

CODE = '''
import sys
open(sys.argv[0] + ".imported", "w")  # must never run

from elsewhere import Borrowed

class Net:
    def __init__(self, in_channels, out_channels=2, *, depth, **extra):
        pass

class Plain:
    def __init__(self, width, /, height=1):
        pass

class Child(Net):
    pass

def make(a, b=1):
    return a
'''


def bundle(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "__init__.py").write_text("")
    (tmp_path / "scripts" / "nets.py").write_text(CODE)
    return tmp_path


def test_class_parameters_come_from_its_init(tmp_path: Path) -> None:
    found = find_in_code(bundle(tmp_path), "scripts.nets.Net")
    assert found.params is not None and found.file == "scripts/nets.py"
    assert found.params.names == ("in_channels", "out_channels", "depth")
    assert found.params.required == ("in_channels", "depth")
    assert found.params.var_keyword
    assert not list(tmp_path.glob("**/*.imported"))


def test_positional_only_and_functions(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    plain = find_in_code(root, "scripts.nets.Plain").params
    assert plain is not None and plain.names == ("height",) and not plain.var_keyword
    assert [m.argument for m in mismatches("Plain", plain, ["width"], "default")] == ["width"]
    make = find_in_code(root, "scripts.nets.make").params
    assert make is not None and make.required == ("a",)
    assert [m.argument for m in mismatches("make", make, ["b"], "default")] == ["a"]
    assert mismatches("make", make, ["b"], "callable") == []  # partial: a comes later


def test_what_the_file_does_not_show_is_not_checked(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    assert "inherits" in (find_in_code(root, "scripts.nets.Child").note or "")
    assert "imported" in (find_in_code(root, "scripts.nets.Borrowed").note or "")


def test_missing_file_and_name_are_errors(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    assert "defines no class or function Nett" in (find_in_code(root, "scripts.nets.Nett").error or "")
    assert "no file scripts/other.py" in (find_in_code(root, "scripts.other.Net").error or "")
    (root / "scripts" / "broken.py").write_text("def f(:\n")
    assert "invalid Python" in (find_in_code(root, "scripts.broken.f").error or "")


def test_unknown_argument_suggests_the_close_name() -> None:
    def target(channels: int, strides: int = 2) -> None: ...

    params = params_of(target)
    assert params is not None
    [problem] = mismatches("target", params, ["chanels"], "partial")
    assert problem.argument == "chanels" and "did you mean 'channels'" in problem.message
    kwargs_ok = params_of(lambda **anything: None)
    assert kwargs_ok is not None and mismatches("f", kwargs_ok, ["whatever"], "default") == []
