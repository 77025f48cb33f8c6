"""MONAI Bundles (``configs/metadata.json`` + ``configs/train.json``): detection and a check that runs nothing.

Resolution is MONAI's own (:mod:`monai.bundle`); this package only reads configs with MONAI's
parser and inspects them statically. Issue 18 is in progress: today only ``mmar check`` takes
a bundle (docs/BUNDLES.md).
"""
