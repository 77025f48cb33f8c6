"""The one context a bundle's Python runs in: its root importable (``scripts.x``), and nothing of it left after.

``monai.bundle run`` puts the bundle root on ``sys.path`` (so ``_target_: scripts.net.MyNet``
imports) and leaves it there. Inside :func:`bundle_code` the runner does the same, and on leaving
removes the root from ``sys.path`` (every copy, MONAI's included) and every module imported from
it from ``sys.modules``: two bundles run in one process (tests, a benchmark, ``mmar verify``'s
checks) each see their own ``scripts`` package, never the other's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def bundle_code(root: Path) -> Iterator[None]:
    entry = str(root.resolve())
    stale = [name for name in sys.modules if name == "scripts" or name.startswith("scripts.")]
    for name in stale:  # another bundle's scripts package, imported earlier in this process
        del sys.modules[name]
    before = set(sys.modules)
    sys.path.insert(1, entry)
    try:
        yield
    finally:
        sys.path[:] = [p for p in sys.path if p != entry]
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules.get(name), "__file__", None) or ""
            if module_file.startswith(entry + "/"):
                del sys.modules[name]
