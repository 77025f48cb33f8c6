"""Which files a run's datalists name: the entries its datasets load, with where each is named, for messages.

Read through the Builder (:func:`datalist_files`), so the files hashed by
:mod:`runner.data.content_digest` are exactly those MONAI's ``load_decathlon_datalist`` returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from runner.data.content_digest import NamedFile


def entry_files(datalist: str, key: str, entries: Sequence[Mapping[str, Any]], segmentation: bool = True) -> list[NamedFile]:
    """The files loaded datalist entries name, as MONAI's ``load_decathlon_datalist`` returns them (paths joined).

    ``image`` always, ``label`` when the task is segmentation (a classification label is a value):
    these must exist, and a missing one is reported by :func:`digest_files`; either may be a folder.
    Any other field counts when its value is a file that exists under the absolute path MONAI joined
    it to (MONAI joins another field only when the result exists; a folder there, e.g. ``"."``
    joined to the base folder, is not taken for data).
    """
    found = []
    for index, entry in enumerate(entries):
        for name, value in entry.items():
            required = name == "image" or (segmentation and name == "label")
            for suffix, path in _path_values(value):
                if required or (os.path.isabs(path) and os.path.isfile(path)):
                    found.append(NamedFile(path, datalist, f"{key}[{index}].{name}{suffix}"))
    return found


def datalist_files(builder: Any, sections: Sequence[str] = ("train", "validate")) -> list[NamedFile]:
    """Every file the datalists of ``sections`` name, read through ``builder`` (a runner.components.build.Builder).

    Uses ``builder.datalist`` (which imports MONAI's datalist loader) so the files are exactly those
    the datasets load; it raises ComponentError (exit 2) for a missing datalist or key, as the run would.
    """
    from runner.mmar import display_path

    found: list[NamedFile] = []
    for section in sections:
        spec = builder.spec(section, "dataset")
        if spec is None or not getattr(spec, "data_list_file_path", None):
            continue
        file, _, key = builder.datalist_source(section)
        found += entry_files(display_path(builder.loaded.mmar.root, file), key, builder.datalist(section), builder.segmentation)
    return found


def _path_values(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, str) and value:
        return [("", value)]
    if isinstance(value, list):
        return [(f"[{i}]", item) for i, item in enumerate(value) if isinstance(item, str) and item]
    return []
