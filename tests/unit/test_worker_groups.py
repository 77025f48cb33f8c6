"""`make test` runs two pytest-xdist workers: a module's shared fixture must be made on one worker, once.

The grouping lives in tests/conftest.py; its hook must run before xdist's, which reads the marks
(without ``tryfirst`` the marks came too late and the docker tests ran on both workers, each
starting its own engine on one socket).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SHARED_FIXTURE_MODULE = '''
import os
import pytest

@pytest.fixture(scope="module")
def shared():
    return os.environ.get("PYTEST_XDIST_WORKER")

@pytest.mark.parametrize("i", range(6))
def test_where(shared, i):
    assert shared == os.environ.get("PYTEST_XDIST_WORKER")
'''


def test_a_module_with_a_shared_fixture_runs_whole_on_one_worker(tmp_path: Path) -> None:
    module = tmp_path / "test_shared.py"
    module.write_text(SHARED_FIXTURE_MODULE)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-n", "2", "--dist", "loadgroup", "-v",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(module)],
                          cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    ran = [line for line in done.stdout.splitlines() if "PASSED" in line]
    assert len(ran) == 6 and all(line.rstrip().endswith("@test_shared.py") for line in ran), ran
    assert len({line.split("]")[0] for line in ran}) == 1, ran  # one worker ([gw0] or [gw1]) ran them all
