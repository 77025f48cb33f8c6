"""The commands the docs show, read from their Markdown, so that tests can run exactly those.

Every command in README.md, docs/*.md and bundles/*/docs/Readme.md sits in a fenced ``console``
block, one per ``$ `` line (a trailing backslash continues it), with the output a reader should
expect on the lines below (``…`` stands for any text). The fence's info string says where the
block runs:

* ```` ```console ````: by tests/docs/test_doc_commands.py, on this machine;
* ```` ```console docker ````: by tests/image/test_doc_commands_docker.py, on the test engine;
* ```` ```console ci ````: it is the CI command itself (`.ci/run` must contain it);
* ```` ```console needs=gpu ```` / ```` needs=cluster ```` / ```` needs=network ```` / ````
  needs=dataset ````: needs what no test machine has (a GPU or the CUDA image, a Kubernetes
  cluster, the package index, the real Decathlon data set); each such command is listed with its
  reason in tests/docs/test_doc_commands.py (NOT_RUN), never silently skipped.

A comment ``# exits N`` on a command line sets the exit status it must have (default 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```console(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.S | re.M)
EXIT = re.compile(r"#.*\bexits? (\d+)\b")
WHERE_LOCAL, WHERE_DOCKER, WHERE_CI = "local", "docker", "ci"
NEEDS_ALLOWED = frozenset({"gpu", "cluster", "network", "dataset"})
ELLIPSIS = "…"


@dataclass(frozen=True)
class DocCommand:
    """One ``$`` line (continuations joined) with its expected output and exit status."""

    file: Path
    line: int
    command: str
    expected_output: tuple[str, ...] = ()
    exit_code: int = 0

    @property
    def where(self) -> str:
        name = self.file.relative_to(REPO) if self.file.is_relative_to(REPO) else self.file
        return f"{name}:{self.line}"

    def output_mismatch(self, output: str) -> str | None:
        """None when every expected line appears, in order, in ``output`` (``…`` matches any text)."""
        lines = output.splitlines()
        position = 0
        for expected in self.expected_output:
            pattern = re.compile(".*".join(re.escape(part) for part in expected.strip().split(ELLIPSIS)))
            while position < len(lines) and not pattern.search(lines[position]):
                position += 1
            if position == len(lines):
                return f"expected a line like {expected!r} (in order) in the output"
            position += 1
        return None


@dataclass(frozen=True)
class DocBlock:
    """A fenced console block: where it runs and its commands."""

    file: Path
    line: int
    runs: str  # local, docker, ci or needs=<what>
    commands: tuple[DocCommand, ...] = field(default_factory=tuple)


def doc_files() -> list[Path]:
    """The Markdown a user reads: the README, docs/, and each bundle's own docs."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("bundles/*/docs/Readme.md"))]


def blocks(path: Path) -> list[DocBlock]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match.group("info").split()
        runs = info[0] if info else WHERE_LOCAL
        start = text.count("\n", 0, match.start("body")) + 1
        found.append(DocBlock(path, start, runs, tuple(_commands(path, start, match.group("body")))))
    return found


def _commands(path: Path, first_line: int, body: str) -> list[DocCommand]:
    commands: list[DocCommand] = []
    current: list[str] = []
    start = 0
    output: list[str] = []

    def flush() -> None:
        if current:
            command = " ".join(part.rstrip("\\").strip() for part in current)
            code = EXIT.search(command)
            commands.append(DocCommand(path, start, _strip_comment(command), tuple(o for o in output if o.strip()),
                                       int(code.group(1)) if code else 0))

    lines = body.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("$ "):
            flush()
            current, output, start = [line[2:]], [], first_line + index
            while current[-1].rstrip().endswith("\\") and index + 1 < len(lines):
                index += 1
                current.append(lines[index])
        elif current:
            output.append(line)
        index += 1
    flush()
    return commands


def _strip_comment(command: str) -> str:
    """Drop a trailing ``# comment`` that is not inside quotes."""
    quote = None
    for position, char in enumerate(command):
        if char in "'\"" and quote in (None, char):
            quote = None if quote == char else char
        elif char == "#" and quote is None and (position == 0 or command[position - 1] == " "):
            return command[:position].rstrip()
    return command.rstrip()


def all_blocks() -> list[DocBlock]:
    return [block for path in doc_files() for block in blocks(path)]


def indented_commands(path: Path) -> list[str]:
    """Command-looking lines in indented (unfenced) code: they would escape the tests."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    starts = ("mmar ", "make ", "docker ", "kubectl ", "python ", ".venv/", "commands/", "torchrun ", "pip ", "$ ")
    return [line for line in text.splitlines() if line.startswith("    ") and line.strip().startswith(starts)]
