"""The pieces a converted config is made of: references to bundle ids, expressions, and where each MMAR slot lives.

An MMAR names objects by section and slot (``train.model``, ``validate.evaluator``); a bundle by
ids (``network``, ``validate#evaluator``). :data:`SLOT_IDS` is the table between them and agrees
with the ids the runner looks up in bundles (:data:`runner.bundle.objects.SLOT_IDS`). Pure: no
MONAI, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

PINS_MODULE = "scripts.mmar_pins"  # the converted bundle's copy of runner/convert/bundle_pins.py

TOP_LEVEL_SLOTS = {"model": "network", "loss": "loss", "optimizer": "optimizer", "lr_scheduler": "lr_scheduler"}
SECTION_SLOTS = {"pre_transforms": "preprocessing", "post_transforms": "postprocessing"}
ENGINE_IDS = {"trainer": "train#trainer", "evaluator": "validate#evaluator"}


@dataclass(frozen=True)
class Ref:
    """``@id``: the object MONAI builds at another id of the bundle."""

    id: str

    def render(self) -> str:
        return f"@{self.id}"

    def parameters(self) -> Expr:
        """``@network.parameters()``: what the 4.0 wiring gives an optimizer (``model.parameters()``)."""
        return Expr(f"{self.render()}.parameters()")


@dataclass(frozen=True)
class Expr:
    """``$python``: an expression MONAI evaluates (``monai``, ``torch``, ``np`` and ``@id`` objects in scope)."""

    text: str

    def render(self) -> str:
        return f"${self.text}"


@dataclass(frozen=True)
class ConfRef:
    """Clara's ``@conf`` (the whole resolved config): a bundle has no such object."""


CONF = ConfRef()


def slot_id(section: str, slot: str) -> str:
    """The bundle id of an MMAR slot: ``("train", "model")`` -> ``network``, ``("validate", "pre_transforms")`` ->
    ``validate#preprocessing``."""
    if slot in ENGINE_IDS:
        return ENGINE_IDS[slot]
    if slot in TOP_LEVEL_SLOTS and section == "train":
        return TOP_LEVEL_SLOTS[slot]
    return f"{section}#{SECTION_SLOTS.get(slot, slot)}"


def python_literal(value: object) -> str:
    """A JSON-like value as Python source for an expression (strings quoted, paths as strings)."""
    return repr(value if not hasattr(value, "__fspath__") else str(value))
