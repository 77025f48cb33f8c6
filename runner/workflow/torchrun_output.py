"""What torchrun prints, reduced to what a user needs: the failing rank's one error, with its exit code.

When a worker fails, torchrun's agent stops the other workers (who then report a lost connection
and a SIGTERM of their own), logs glog lines, and ends with its own traceback and a
``ChildFailedError`` report; and it exits 1 whatever the worker's exit code was. Workers'
output goes through :class:`TorchrunOutput` on its way to the terminal: the agent's lines and
report are dropped, the workers' error blocks (``error: rank N: ...``) are held until the end and
only the first failure's is printed, and the exit code is that rank's (2 for bad input, 75 when
preempted). Everything else a worker prints passes through as it comes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

AGENT_LOG = re.compile(r"^[WEIF]\d{4} \S+ \d+ .*torch/distributed/")
AGENT_FAILURE = "torch.distributed.elastic.multiprocessing.errors.ChildFailedError"
AGENT_SIGNAL = "torch.distributed.elastic.multiprocessing.api.SignalException"  # the agent itself got Ctrl-C/SIGTERM
ROOT_CAUSE = "Root Cause (first observed failure):"
RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
EXIT_CODE = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)")
WORKER_ERROR = re.compile(r"^error: rank (\d+): ")
STOPPING_OTHERS = "closing signal SIGTERM"
SIGTERM_WARNING = "warning: SIGTERM: finishing the current step"
STOP_WARNINGS = (SIGTERM_WARNING, "warning: Ctrl-C: finishing the current step")  # every rank says it; once is enough
# Two ranks writing at once can glue their warnings into one line ("...checkpointwarning: Ctrl-C: ..."): cut before each.
GLUED_STOP_WARNING = re.compile(r"(?<=\S)(?=" + "|".join(re.escape(w) for w in STOP_WARNINGS) + ")")


class TorchrunOutput:
    """Feed it torchrun's stderr line by line; call :meth:`finish` with torchrun's exit code."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._errors: dict[int, list[str]] = {}  # rank -> its error block
        self._error_rank: int | None = None  # the block being read
        self._traceback: list[str] | None = None
        self._in_report = False
        self._agent_stopping = False
        self.root_rank: int | None = None
        self.root_exit: int | None = None
        self._reading_root = False
        self._said: set[str] = set()
        self._glued_newlines = 0

    def feed(self, line: str) -> None:
        parts = GLUED_STOP_WARNING.split(line)
        if len(parts) > 1:
            for part in parts[:-1]:
                self.feed(part + "\n")
            self.feed(parts[-1])
            self._glued_newlines = len(parts) - 1  # the glued ranks' own newlines follow as empty lines
            return
        text = line.rstrip("\n")
        if not text and self._glued_newlines:
            self._glued_newlines -= 1
            return
        self._glued_newlines = 0
        if self._in_report:
            self._read_report(text)
            return
        if self._traceback is not None:
            self._traceback.append(line)
            if text and not text.startswith((" ", "Traceback")):  # the exception line ends the block
                block, self._traceback = self._traceback, None
                if text.startswith(AGENT_FAILURE):
                    self._in_report = True
                elif not text.startswith(AGENT_SIGNAL):  # the workers say how they stopped
                    self._pass("".join(block))
            return
        if text.startswith("Traceback (most recent call last):"):
            self._traceback = [line]
            return
        if AGENT_LOG.match(text):
            self._agent_stopping = self._agent_stopping or STOPPING_OTHERS in text
            return
        if self._agent_stopping and text.startswith(SIGTERM_WARNING):
            return  # the agent stopping the other workers, not a preemption
        if text.startswith(STOP_WARNINGS):
            if text in self._said:
                return
            self._said.add(text)
        found = WORKER_ERROR.match(text)
        if found:
            self._error_rank = int(found.group(1))
            self._errors.setdefault(self._error_rank, []).append(line)
            return
        if self._error_rank is not None and text.startswith("  "):  # a hint line of the error block
            self._errors[self._error_rank].append(line)
            return
        self._error_rank = None
        self._pass(line)

    def finish(self, returncode: int) -> int:
        """Print the error that stopped the job and return the exit code to end with."""
        if self._traceback:
            self._pass("".join(self._traceback))
        ranks = [self.root_rank] if self.root_rank in self._errors else sorted(self._errors)
        shown: set[str] = set()
        for rank in ranks:
            text = WORKER_ERROR.sub("error: ", "".join(self._errors[rank]), count=1)
            if text not in shown:  # every rank stopped by one Ctrl-C says the same: once, by the lowest rank
                shown.add(text)
                self._pass("".join(self._errors[rank]))
        if returncode != 0 and self.root_exit is not None and self.root_exit > 0:
            return self.root_exit
        return returncode

    def _read_report(self, text: str) -> None:
        if text.startswith(ROOT_CAUSE):
            self._reading_root = True
        elif self._reading_root and (found := RANK.match(text)):
            self.root_rank = int(found.group(1))
        elif self._reading_root and (found := EXIT_CODE.match(text)):
            self.root_exit = int(found.group(1))
        elif self._reading_root and text.startswith("====="):
            self._in_report = self._reading_root = False

    def _pass(self, text: str) -> None:
        self._write(text if text.endswith("\n") else text + "\n")
