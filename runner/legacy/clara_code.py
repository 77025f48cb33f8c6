"""The one context an MMAR's Python runs in: its custom/ importable, MONAI's removed names served.

``mmar check``, ``train``, ``validate``/``infer`` and ``export`` import the MMAR's custom code
(and build its components) inside :func:`mmar_code`; leaving it undoes both, so runs in one
process (tests, ``mmar verify``) cannot see each other's modules or shims.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.mmar import custom_code_on_path


@contextmanager
def mmar_code(root: Path) -> Iterator[None]:
    """``custom/`` on the import path and the removed-MONAI-name shim, for the duration of the block."""
    from runner.legacy.import_shim import legacy_monai_names

    with custom_code_on_path(root), legacy_monai_names(root):
        yield
