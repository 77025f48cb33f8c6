"""``mmar check --data`` for a bundle: open every file its globs and datalists list, before a run meets a bad one.

The lists are the ones the static check computes (:func:`runner.bundle.inputs.check_inputs`);
nothing of the bundle runs, so its pre-transforms are not tried here as they are for an MMAR.
Each list goes through the same reader as an MMAR's (:mod:`runner.data.inspect`): headers, image
and label shapes, cut-short files, label values within the classes the network predicts.
"""

from __future__ import annotations

import logging
from typing import Any

from runner.bundle.inputs import DataInput
from runner.bundle.load import BundleConfig
from runner.errors import ConfigIssue

logger = logging.getLogger(__name__)

NETWORK_ID = "network_def"  # the model-zoo convention for the network item
CLASS_ARGUMENTS = ("out_channels", "num_classes", "n_classes")


def inspect_bundle_data(bundle: BundleConfig, inputs: list[DataInput]) -> list[ConfigIssue]:
    """Every bad file of every list (``inputs``, from the check's scan), at once; a summary line per list in the log."""
    from runner.data.inspect import inspect_datalist

    classes = network_classes(bundle.config)
    issues: list[ConfigIssue] = []
    for found in inputs:
        report = inspect_datalist(found.file, found.key, found.entries, classes)
        logger.info("data: %s: %s", found.file, report.summary(found.key))
        issues += report.issues
    if not inputs:
        logger.warning("data: no glob or datalist the check could compute: no file was opened")
    return issues


def network_classes(config: dict[str, Any]) -> int | None:
    """The classes the network predicts, when its item gives them as a number or a reference to one."""
    network = config.get(NETWORK_ID)
    if not isinstance(network, dict):
        return None
    for name in CLASS_ARGUMENTS:
        value = network.get(name)
        if isinstance(value, str) and value.startswith("@") and "#" not in value:
            value = config.get(value[1:])
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
