"""torchrun's output reduced to the failing rank's error and exit code (runner.workflow.torchrun_output)."""

from __future__ import annotations

from runner.workflow.torchrun_output import TorchrunOutput

# What torch 2.13's torchrun printed when rank 1 exited 2 (paths shortened), interleaved with the workers' lines.
CANNED = """torchrun: 2 process(es) per node, 1 node(s)
epoch 1/3  loss 0.6552    [0.1s]
error: rank 1: /data/dataset.json: training[2] (/data/imagesTr/c2.nii.gz): LoadImaged: EOFError: cut short
  hint: fix or remove that entry of the datalist (mmar check --data reads every file's header first)
W1201 00:42:41.044000 1814 site-packages/torch/distributed/elastic/multiprocessing/api.py:1028] Sending process 1816 closing signal SIGTERM
warning: SIGTERM: finishing the current step, then writing a resume checkpoint
error: rank 0: training failed: RuntimeError: Connection closed by peer [127.0.0.1]:38101.
E1201 00:42:41.309000 1814 site-packages/torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 2) local_rank: 1
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "site-packages/torch/distributed/launcher/api.py", line 383, in launch_agent
    raise ChildFailedError(
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
runner FAILED
------------------------------------------------------------
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 1816)
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-01_00:42:41
  rank      : 1 (local_rank: 1)
  exitcode  : 2 (pid: 1817)
  error_file: <N/A>
============================================================
"""


def run(text: str, returncode: int) -> tuple[str, int]:
    written: list[str] = []
    output = TorchrunOutput(written.append)
    for line in text.splitlines(keepends=True):
        output.feed(line)
    code = output.finish(returncode)
    return "".join(written), code


def test_only_the_first_failure_is_printed_with_its_exit_code() -> None:
    shown, code = run(CANNED, 1)
    assert code == 2, "torchrun's own exit code (1) replaced by the failing rank's"
    assert shown == ("torchrun: 2 process(es) per node, 1 node(s)\nepoch 1/3  loss 0.6552    [0.1s]\n"
                     "error: rank 1: /data/dataset.json: training[2] (/data/imagesTr/c2.nii.gz): LoadImaged: EOFError: cut short\n"
                     "  hint: fix or remove that entry of the datalist (mmar check --data reads every file's header first)\n")


def test_a_workers_own_traceback_and_a_clean_run_pass_through() -> None:
    text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: verbose worker\nepoch 1/1\n"
    shown, code = run(text, 0)
    assert shown == text and code == 0


def test_without_a_report_every_error_is_kept() -> None:
    shown, code = run("error: rank 0: a\nerror: rank 1: b\n", 1)
    assert shown == "error: rank 0: a\nerror: rank 1: b\n" and code == 1


# What a Ctrl-C to the whole process group looks like: both ranks stop, the agent gets SIGINT itself.
CTRL_C = """epoch 1/8  loss 0.6552    [0.1s]
warning: Ctrl-C: finishing the current step, then writing a resume checkpoint
warning: Ctrl-C: finishing the current step, then writing a resume checkpoint
W1201 04:50:00.000000 1814 site-packages/torch/distributed/elastic/agent/server/api.py:753] Received Signals.SIGINT death signal, shutting down workers
error: rank 1: interrupted (Ctrl-C) after iteration 4; a resume checkpoint is in /out/resume
  hint: run the same command again to continue (--fresh starts over)
error: rank 0: interrupted (Ctrl-C) after iteration 4; a resume checkpoint is in /out/resume
  hint: run the same command again to continue (--fresh starts over)
Traceback (most recent call last):
  File "site-packages/torch/distributed/elastic/agent/server/api.py", line 754, in run
    self._shutdown(e.sigval, timeout=self._shutdown_timeout)
torch.distributed.elastic.multiprocessing.api.SignalException: Process 1814 got signal: 2
"""


def test_ctrl_c_to_the_group_says_so_once_without_the_agents_traceback() -> None:
    shown, code = run(CTRL_C, 1)
    assert shown == ("epoch 1/8  loss 0.6552    [0.1s]\n"
                     "warning: Ctrl-C: finishing the current step, then writing a resume checkpoint\n"
                     "error: rank 0: interrupted (Ctrl-C) after iteration 4; a resume checkpoint is in /out/resume\n"
                     "  hint: run the same command again to continue (--fresh starts over)\n")
    assert code == 1, "the launcher maps it to 130 (stopped_exit_code), knowing which signal it got"


def test_two_ranks_warnings_glued_into_one_line_are_said_once() -> None:
    """Both ranks writing at once: "...checkpointwarning: Ctrl-C: ...checkpoint" then their two newlines."""
    warning = "warning: Ctrl-C: finishing the current step, then writing a resume checkpoint"
    shown, _ = run(f"epoch 2/8\n{warning}{warning}\n\nepoch 3/8\n", 1)
    assert shown == f"epoch 2/8\n{warning}\nepoch 3/8\n"


def test_different_errors_of_two_ranks_are_both_shown() -> None:
    shown, _ = run("error: rank 0: first problem\nerror: rank 1: second problem\n", 1)
    assert shown == "error: rank 0: first problem\nerror: rank 1: second problem\n"


def test_the_launchers_exit_code_names_the_signal_that_stopped_the_job() -> None:
    import signal

    from runner.workflow.distributed import stopped_exit_code

    assert stopped_exit_code(1, [signal.SIGINT]) == 130
    assert stopped_exit_code(75, [signal.SIGTERM]) == 75
    assert stopped_exit_code(1, [signal.SIGTERM, signal.SIGINT]) == 130
    assert stopped_exit_code(0, [signal.SIGINT]) == 0, "a job that finished anyway succeeded"
    assert stopped_exit_code(2, []) == 2
