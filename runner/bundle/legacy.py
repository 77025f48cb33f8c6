"""Arguments that today's MONAI removed or renamed, rewritten in a bundle's config as they are in an MMAR's.

Zoo bundles were written for the MONAI of their day: a 2024 SwinUNETR bundle passes ``img_size``,
which MONAI 1.5 removed, and fails at instantiation on today's. The runner's alias table
(:data:`runner.legacy.aliases.ARG_ALIASES`, one table for both formats) says which arguments of
which classes are gone and what replaced them; here it is applied to every ``_target_`` item of a
bundle's merged config, before MONAI parses it. ``mmar check`` shows each rewrite as a warning
and the run manifest records them, so a reader knows the run is not the config's letter.

Pure: a walk over JSON data; nothing is imported or evaluated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from runner.bundle.ids import iter_items, shown
from runner.errors import ConfigIssue
from runner.legacy.aliases import ARG_ALIASES, ArgAlias

NOT_A_NAME = ("$", "@", "%")


@dataclass(frozen=True)
class LegacyArgument:
    """One removed or renamed argument found at ``item_id`` (shown form) and what the run uses instead."""

    item_id: str
    target: str
    old: str
    new: str | None
    since: str

    def issue(self, file: str) -> ConfigIssue:
        """The warning ``mmar check`` shows; an argument given both ways is an error (which one is meant?)."""
        instead = f"running it as {self.new}" if self.new else "running it without"
        return ConfigIssue(file, f"{self.item_id}#{self.old}",
                           f"{self.target}({self.old}=...) is gone since MONAI {self.since}; {instead}",
                           hint="the bundle was written for an older MONAI; edit the config to silence this",
                           severity="warning")

    def record(self) -> dict[str, Any]:
        """The manifest's entry."""
        return asdict(self)


@dataclass(frozen=True)
class Conflict:
    """An item that gives both the old argument and its replacement."""

    item_id: str
    target: str
    old: str
    new: str

    def issue(self, file: str) -> ConfigIssue:
        return ConfigIssue(file, f"{self.item_id}#{self.old}",
                           f"{self.target} is given both {self.old} (renamed in MONAI) and {self.new}; keep one")


def rewrite_legacy_arguments(config: dict[str, Any]) -> tuple[list[LegacyArgument], list[Conflict]]:
    """Rewrite, in place, every removed or renamed argument of every ``_target_`` item of ``config``.

    Items with a ``_target_`` in the bundle's own code keep their arguments: only MONAI's
    classes changed. A conflicting item loses the old argument and is returned as a :class:`Conflict`
    (an error: the run does not start).
    """
    rewritten: list[LegacyArgument] = []
    conflicts: list[Conflict] = []
    for item_id, item in list(iter_items(config)):
        if not isinstance(item, dict) or not isinstance(item.get("_target_"), str):
            continue
        target = item["_target_"]
        name = _monai_short_name(target)
        if name is None:
            continue
        for row in ARG_ALIASES:
            if row.old in item and row.applies_to(name):
                _rewrite(item, row, shown(item_id), name, rewritten, conflicts)
    return rewritten, conflicts


def _monai_short_name(target: str) -> str | None:
    """``SwinUNETR`` for ``SwinUNETR`` or ``monai.networks.nets.SwinUNETR``; None for anything not MONAI's."""
    if target.startswith(NOT_A_NAME):
        return None
    if "." not in target:
        return target
    return target.rsplit(".", 1)[-1] if target.startswith("monai.") else None


def _rewrite(item: dict[str, Any], row: ArgAlias, item_id: str, name: str, rewritten: list[LegacyArgument],
             conflicts: list[Conflict]) -> None:
    if row.new is not None and row.new in item:
        item.pop(row.old)  # the conflict is the one error to report, not also "does not accept" (nothing runs)
        conflicts.append(Conflict(item_id, name, row.old, row.new))
        return
    value = item.pop(row.old)
    if row.new is not None:
        item[row.new] = value
    rewritten.append(LegacyArgument(item_id, name, row.old, row.new, row.since))
