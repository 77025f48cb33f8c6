"""The one exception hierarchy of mmar-runner.

Every error a user can cause carries a message written for whoever owns the MMAR: the file, the
JSON path inside it, what is wrong and, where we can tell, how to fix it. The CLI maps
``MmarRunnerError.exit_code`` to the process exit status (2 for bad input).
"""

from __future__ import annotations

from dataclasses import dataclass

BAD_INPUT_EXIT = 2
RUNTIME_FAILURE_EXIT = 1
HOST_UNSUITABLE_EXIT = 3
PREEMPTED_EXIT = 75  # EX_TEMPFAIL: "try again later"; distinct from failure (1) and bad input (2)
INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty): enough for a one-line report."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in an input file, located by file and JSON path."""

    file: str
    path: str
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def render(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class MmarRunnerError(Exception):
    """Base of every error mmar-runner raises on purpose."""

    exit_code = BAD_INPUT_EXIT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


class MmarLayoutError(MmarRunnerError):
    """The MMAR folder or one of its files is missing, unreadable or not valid JSON."""


class ConfigError(MmarRunnerError):
    """One or more issues in the config files; all of them are reported at once."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        errors = [i for i in issues if i.severity == "error"]
        self.issues = issues
        count = len(errors)
        header = f"{count} problem{'s' if count != 1 else ''} found:"
        super().__init__("\n".join([header, *(i.render() for i in errors)]))


class ComponentError(MmarRunnerError):
    """A component could not be resolved, bound or built."""

    def __init__(self, file: str, config_path: str, message: str, hint: str | None = None) -> None:
        self.issue = ConfigIssue(file, config_path, message, hint)
        super().__init__(self.issue.render())
        self.file = file
        self.config_path = config_path


class DeterminismError(MmarRunnerError):
    """A requested determinism pin cannot be honoured by this torch/CUDA."""


class RunFailedError(MmarRunnerError):
    """Training itself failed after the inputs were accepted (not a user input error)."""

    exit_code = RUNTIME_FAILURE_EXIT


class DataMismatchError(MmarRunnerError):
    """A config value does not fit the data it met during a run: a crop larger than the image, ``in_channels``
    against the images' channels, label values beyond ``out_channels``.

    Bad input (exit 2) that ``mmar check`` could not see, since it reads no image; the message names
    the setting (and its variable) to change (:mod:`runner.workflow.diagnose`). Raised in DataLoader
    worker processes too, like :class:`DataCaseError`.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(from_worker(type(self).__name__, message), hint)


class HostError(MmarRunnerError):
    """The host cannot do what is asked (no GPU, wrong architecture, old driver, no Docker engine).

    Not bad input (exit 2, which a Kubernetes Job fails fast on): another node may well do.
    """

    exit_code = HOST_UNSUITABLE_EXIT


class ImageBuildError(MmarRunnerError):
    """The engine failed an image build; its own message says why."""

    exit_code = RUNTIME_FAILURE_EXIT


class PreemptedError(MmarRunnerError):
    """Training stopped on SIGTERM after writing a resume checkpoint; run again to continue."""

    exit_code = PREEMPTED_EXIT


class RunInterruptedError(PreemptedError):
    """Training stopped on Ctrl-C (SIGINT), after writing a resume checkpoint when it could; run again to continue.

    A kind of preemption (the run can continue), told apart so that the manifest says ``interrupted``
    and the exit status is the shell's 130, not the scheduler's 75.
    """

    exit_code = INTERRUPTED_EXIT


class RunLockedError(MmarRunnerError):
    """Another run holds the output folder: two runs must never write the same files (bad input, exit 2)."""


class OutputWriteError(RunFailedError):
    """An output could not be written: the disk is full or read-only. Earlier outputs are intact."""


class DataCaseError(MmarRunnerError):
    """One datalist entry cannot be loaded or transformed: bad input (exit 2), named by datalist, key and index.

    Raised in DataLoader worker processes too, where torch re-raises it in the main process with
    only a message (its own traceback text around ours): the message is recovered from that.
    """

    HINT = "fix or remove that entry of the datalist (mmar check --data reads every file's header first)"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(from_worker(type(self).__name__, message), hint or self.HINT)


def from_worker(error_name: str, message: str) -> str:
    """Our own message out of torch's re-raise of a DataLoader worker's error ("Caught X in DataLoader worker ...")."""
    marker = f"{error_name}: "
    if message.startswith(f"Caught {error_name}") and marker in message:
        return message.rsplit(marker, 1)[1].strip()
    return message
