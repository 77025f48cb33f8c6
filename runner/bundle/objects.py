"""A bundle's built objects, found by MONAI's bundle property ids: the wiring table between the two formats.

The runner's run machinery (resume checkpoints, the run record, the data RNG pins) asks for
objects by MMAR section and slot (``built("train", "dataset")``). A bundle names the same
objects with the ids MONAI's bundle specification gives its properties (``train#dataset``,
``validate#evaluator``, ...). :data:`SLOT_IDS` is the one table between them; :class:`BundleObjects`
answers ``built`` from what MONAI's reference resolver has instantiated, and never builds
anything itself: an object the bundle's run did not need stays unbuilt.
"""

from __future__ import annotations

import logging
from typing import Any

from runner.determinism import derive_seed, seed_randomizables
from runner.errors import ComponentError

logger = logging.getLogger(__name__)

SLOT_IDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("train", "model"): ("network", "network_def"),
    ("train", "optimizer"): ("optimizer",),
    ("train", "lr_scheduler"): ("lr_scheduler", "train#lr_scheduler"),
    ("train", "dataset"): ("train#dataset",),
    ("train", "dataloader"): ("train#dataloader",),
    ("train", "handlers"): ("train#handlers",),
    ("train", "trainer"): ("train#trainer",),
    ("validate", "dataset"): ("validate#dataset",),
    ("validate", "dataloader"): ("validate#dataloader",),
    ("validate", "handlers"): ("validate#handlers",),
    ("validate", "evaluator"): ("validate#evaluator",),
}
TRAINER_ID = "train#trainer"


class BundleObjects:
    """``built(section, slot)`` over a MONAI ``ConfigParser`` whose items the bundle's run resolved."""

    def __init__(self, parser: Any, rank: int = 0, world_size: int = 1) -> None:
        self.parser = parser
        self.rank = rank
        self.world_size = world_size

    def built(self, section: str, slot: str) -> Any:
        """The object at the slot's bundle id once MONAI has built it; None otherwise (as the MMAR builder's)."""
        resolved = self.parser.ref_resolver.resolved_content
        for config_id in SLOT_IDS.get((section, slot), ()):
            monai_id = config_id.replace("#", "::")
            if monai_id in resolved:
                return resolved[monai_id]
        return None

    def get(self, config_id: str) -> Any:
        """Build (through MONAI's resolver) and return the item at ``config_id``.

        Raises:
            ComponentError: a component the item needs could not be built from its arguments (exit 2):
                the config's values are the cause, named with MONAI's message and the innermost error.
        """
        try:
            return self.parser.get_parsed_content(config_id.replace("#", "::"))
        except Exception as exc:  # noqa: BLE001 - MONAI wraps what a constructor raised; say both, briefly
            raise ComponentError("configs", config_id, building_failure(exc),
                                 hint="mmar check BUNDLE checks names and arguments; values are the constructor's to judge") from exc

    def rank_label(self, label: str) -> str:
        """A seed label per rank when distributed, as the MMAR builder's (each rank augments its own shard)."""
        return f"{label}.rank{self.rank}" if self.world_size > 1 else label


def building_failure(exc: BaseException) -> str:
    """MONAI's first line (which component) and the innermost error (why), as one message."""
    inner = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    outer = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    why = f"{type(inner).__name__}: {str(inner).strip().splitlines()[0] if str(inner).strip() else ''}"
    return outer if inner is exc else f"{outer}: {why}"


def pin_data_rngs(objects: BundleObjects, seed: int) -> dict[str, Any]:
    """Seed each dataset's Randomizables and each loader's generators as an MMAR run does; return what was pinned.

    Runs once the trainer is built and before it runs. A loader or sampler that already has a
    generator (a converted bundle writes its seeds into the config) is left as the bundle made it.
    """
    import torch

    pinned: dict[str, Any] = {}
    for section in ("train", "validate"):
        dataset = objects.built(section, "dataset")
        if dataset is not None:
            label = objects.rank_label(f"{section}.dataset.transforms")
            pinned[f"{section}#dataset"] = seed_randomizables(dataset, derive_seed(seed, label))
        loader = objects.built(section, "dataloader")
        if loader is None:
            continue
        label = objects.rank_label(f"{section}.dataloader")
        if getattr(loader, "generator", None) is None:
            loader.generator = torch.Generator().manual_seed(derive_seed(seed, label))
            pinned[f"{section}#dataloader#generator"] = label
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, torch.utils.data.RandomSampler) and sampler.generator is None:
            sampler.generator = loader.generator  # torch's own choice when the loader is given one at construction
            pinned[f"{section}#dataloader#sampler"] = label
    logger.debug("data RNGs pinned: %s", pinned)
    return pinned
