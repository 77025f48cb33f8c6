"""Config ids: walking every item of a bundle config, and showing ids the way bundle authors write them.

MONAI 1.6 separates id levels with ``::`` and still reads the older ``#`` (``normalize_id``);
the zoo's bundles write ``#``, so messages show ``#``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def iter_items(config: Any, parent: str = "") -> Iterator[tuple[str, Any]]:
    """Every nested item of ``config`` with its id (``::``-separated, MONAI's form), parents first."""
    from monai.bundle import ReferenceResolver

    if not isinstance(config, (dict, list)):
        return
    for _, sub_id, value in ReferenceResolver.iter_subconfigs(parent, config):
        yield sub_id, value
        yield from iter_items(value, sub_id)


def shown(config_id: str) -> str:
    """``train::dataset::data`` as ``train#dataset#data``."""
    return config_id.replace("::", "#")


def all_ids(config: Any) -> list[str]:
    """Every id of ``config`` in shown form: candidates for "did you mean"."""
    return [shown(i) for i, _ in iter_items(config)]
